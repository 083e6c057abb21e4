// Tests that load BPF programs, start container runtimes or touch cgroups need root and the real kernel.
// They are marked with this option so a non-root run says why they were skipped instead of failing.
export const needsRoot = {
  skip: process.getuid?.() !== 0 ? 'needs root and the real kernel (run as root)' : false,
} as const;
