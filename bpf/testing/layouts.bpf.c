/* The layout anchor: one instance of every struct and enum that userspace shares with the BPF programs, so all of
 * them are in this one object's BTF. It has no programs and is never loaded; scripts/gen-layouts.js reads its BTF and
 * writes src/kernel/layouts.generated.ts, the only TypeScript definition of these offsets, sizes and constants, and
 * test/kernel/layouts.test.ts fails when that file is stale.
 *
 * To share a new struct or enum with userspace: define it in a header in bpf/include (flags and sizes as enum
 * constants, not #defines, which BTF cannot see), include the header here, add one line below, then run
 * `npm run gen:layouts` and commit the regenerated file. */
#include "tapio.h"
#include "limits.h"
#include "process.h"
#include "network.h"
#include "cgroup.h"
#include "security.h"
#include "security_signals.h"
#include "l7.h"
#include "tls.h"

/* Kinds, drop reasons, the record header (tapio.h). */
enum tapio_kind layout_tapio_kind;
enum tapio_drop_reason layout_tapio_drop_reason;
struct tapio_header layout_tapio_header;

/* Limits maps: tapio_limits_config value, tapio_limits_state key and value, tapio_limits_counters slots (limits.h). */
struct tapio_kind_limit layout_tapio_kind_limit;
struct tapio_limit_key layout_tapio_limit_key;
struct tapio_limit_state layout_tapio_limit_state;
enum tapio_limits_counter layout_tapio_limits_counter;

/* Process records (process.h). */
enum proc_sizes layout_proc_sizes;
enum proc_exec_flag layout_proc_exec_flag;
struct proc_exec_record layout_proc_exec_record;
struct proc_exit_record layout_proc_exit_record;
struct proc_fork_record layout_proc_fork_record;

/* Network records and per-connection state (network.h). */
enum tcp_role layout_tcp_role;
enum tcp_flag layout_tcp_flag;
struct tcp_record layout_tcp_record;
struct tcp_conn layout_tcp_conn;

/* Cgroup records (cgroup.h). */
enum tapio_cgroup_sizes layout_tapio_cgroup_sizes;
struct cgroup_record layout_cgroup_record;

/* Security records, settings and path rules (security.h). */
enum sec_sizes layout_sec_sizes;
enum sec_detection layout_sec_detection;
enum sec_op layout_sec_op;
enum sec_ns layout_sec_ns;
enum sec_flag layout_sec_flag;
enum sec_rule_flag layout_sec_rule_flag;
struct sec_path_rule layout_sec_path_rule;
struct sec_settings layout_sec_settings;
struct sec_ancestor layout_sec_ancestor;
struct sec_record layout_sec_record;
/* Security signals: seccomp violations and netfilter drops (security_signals.h). */
enum security_signals_sizes layout_security_signals_sizes;
enum seccomp_source layout_seccomp_source;
enum netfilter_direction layout_netfilter_direction;
enum tapio_exe_sizes layout_tapio_exe_sizes;
enum tapio_exe_flags layout_tapio_exe_flags;
enum tapio_ancestor_sizes layout_tapio_ancestor_sizes;
struct tapio_ancestor layout_tapio_ancestor;
struct seccomp_record layout_seccomp_record;
struct netfilter_drop_record layout_netfilter_drop_record;
/* Request capture: payload and close records, per-connection state, settings, counters (l7.h). */
enum l7_sizes layout_l7_sizes;
enum l7_protocol layout_l7_protocol;
enum l7_direction layout_l7_direction;
enum l7_syscall layout_l7_syscall;
enum l7_flag layout_l7_flag;
enum l7_counter layout_l7_counter;
enum l7_close_reason layout_l7_close_reason;
enum tls_close_reason layout_tls_close_reason;
struct l7_settings layout_l7_settings;
struct l7_conn layout_l7_conn;
struct l7_data_record layout_l7_data_record;
struct l7_close_record layout_l7_close_record;

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* TLS plaintext records, settings and counters (tls.h). */
enum tls_sizes layout_tls_sizes;
enum tls_func layout_tls_func;
enum tls_map_how layout_tls_map_how;
enum tls_flag layout_tls_flag;
enum tls_counter layout_tls_counter;
struct tls_settings layout_tls_settings;
struct tls_data_record layout_tls_data_record;
struct tls_close_record layout_tls_close_record;
