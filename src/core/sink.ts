// Where events go after the pipeline: the console, OTLP, a test's in-memory list. Exporters implement this one
// small interface (as OpenTelemetry JS's exporters do), so the pipeline never knows which sinks it feeds.
import type { TapioEvent } from './event';

export interface EventSink {
  readonly name: string;
  /** A whole batch at a time; must not throw for one bad event (count it and go on). */
  write(events: TapioEvent[]): void;
  flush?(): Promise<void>;
  close?(): Promise<void>;
}

/** Keeps every event it is given: for tests and for tools that read events in-process. */
export class InMemorySink implements EventSink {
  readonly events: TapioEvent[] = [];
  constructor(readonly name = 'memory') {}
  write(events: TapioEvent[]): void {
    for (const e of events) this.events.push(e);
  }
}
