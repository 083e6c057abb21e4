/* Records of bpf/testing/spine_test.bpf.c: the spine's own tests and benchmarks (loader, ring reader, drops). */
#ifndef TAPIO_SPINE_TEST_H
#define TAPIO_SPINE_TEST_H

struct spine_test_record {
	struct tapio_header h;
	__u64 seq;	   /* running number per CPU-less global counter: lets tests find gaps */
	__u32 burst_index; /* index within the burst emitted for one trigger */
	__s32 nice;	   /* the setpriority() value that triggered it */
};

/* spine_test_settings[0] */
struct spine_test_settings {
	__u32 target_tgid; /* only this process triggers records */
	__u32 burst;	   /* records emitted per trigger (bpf_loop fan-out, for load tests) */
	__u32 no_wakeup;   /* nonzero: submit without waking the reader even into an empty ring, as when two CPUs
			    * race past the first-record wakeup (the reader's idle backstop must find the records) */
};

#endif
