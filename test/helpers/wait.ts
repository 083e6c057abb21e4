// The one way tests wait for something: poll a condition until it holds, or fail after a bound that says what was
// awaited. The bound keeps a broken test from hanging; it is never a timing assertion.

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet: a check may throw while what it reads is not there yet
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Like waitFor, but says whether the condition came true instead of throwing. */
export async function cameTrue(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, pollMs = 20): Promise<boolean> {
  try {
    await waitFor('condition', check, timeoutMs, pollMs);
    return true;
  } catch {
    return false;
  }
}
