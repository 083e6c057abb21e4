// The one error HPACK decoding throws: the header block is malformed or references state we cannot have.
export class HpackError extends Error {
  override name = 'HpackError';
}
