/* Records of bpf/testing/limits_test.bpf.c: the test and benchmark program for bpf/include/limits.h. */
#ifndef TAPIO_LIMITS_TEST_H
#define TAPIO_LIMITS_TEST_H

struct limits_test_record {
	struct tapio_header h;
	__u64 seq; /* global running number: lets tests find gaps */
};

#endif
