/* Which protocol a connection speaks, from the first bytes one side sends (bpf/l7.bpf.c's in-kernel detection). */
#ifndef TAPIO_L7_DETECT_H
#define TAPIO_L7_DETECT_H

#include "l7.h"
#include "network.h"

#define W4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

/* What the first bytes of a payload say: HTTP/1 request or status line, or the HTTP/2 preface. *role_hint is the
 * side the sender is on (the client sends requests and the preface). */
static __always_inline __u8 detect(const __u8 *b, __u32 n, __u8 *sender_role, bool stream_start)
{
	if (n < 4)
		return L7_PROTO_UNKNOWN;
	/* An HTTP/2 server speaks first: its connection preface is a SETTINGS frame (RFC 9113 3.4), often sent before the
	 * client's preface arrives. Recognised only at the very start of a stream, where a frame header must be. */
	if (stream_start && n >= 9 && b[0] == 0 && b[2] % 6 == 0 && b[3] == 0x04 && b[4] == 0 && b[5] == 0 &&
	    b[6] == 0 && b[7] == 0 && b[8] == 0) {
		*sender_role = TCP_ROLE_SERVER;
		return L7_PROTO_HTTP2;
	}
	__u32 w = W4(b[0], b[1], b[2], b[3]);
	*sender_role = TCP_ROLE_CLIENT;
	if (w == W4('P', 'R', 'I', ' '))
		return n >= 8 && b[4] == '*' && b[5] == ' ' && b[6] == 'H' && b[7] == 'T' ? L7_PROTO_HTTP2
											  : L7_PROTO_UNKNOWN;
	if (w == W4('G', 'E', 'T', ' ') || w == W4('P', 'O', 'S', 'T') || w == W4('P', 'U', 'T', ' ') ||
	    w == W4('H', 'E', 'A', 'D') || w == W4('D', 'E', 'L', 'E') || w == W4('O', 'P', 'T', 'I') ||
	    w == W4('P', 'A', 'T', 'C') || w == W4('C', 'O', 'N', 'N') || w == W4('T', 'R', 'A', 'C'))
		return L7_PROTO_HTTP1;
	if (w == W4('H', 'T', 'T', 'P') && n >= 7 && b[4] == '/' && b[5] == '1' && b[6] == '.') {
		*sender_role = TCP_ROLE_SERVER;
		return L7_PROTO_HTTP1;
	}
	return L7_PROTO_UNKNOWN;
}

#endif
