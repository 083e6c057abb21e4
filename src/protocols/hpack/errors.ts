// The one error HPACK decoding throws: the header block is malformed or references state we cannot have.
// These are expected on untrusted bytes and always caught and counted, so no stack trace is captured (it would
// cost more than the decoding).
export class HpackError extends Error {
  override name = 'HpackError';
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}
