// A reason not to start that a person can act on (a missing capability, another agent holding the lock, an unsafe
// observe address): `tapio run` prints the message in one line and exits with `exitCode`, never with a stack.
export class StartupError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}
