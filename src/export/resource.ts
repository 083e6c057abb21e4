// The OpenTelemetry resource: who is sending (the Tapio agent on this node), kept apart from per-event attributes.
// Follows the Kubernetes and service semantic conventions. Precedence, lowest first: Tapio's own defaults, what the
// caller knows (node and cluster from the Kubernetes API), export.otlp.resourceAttributes, OTEL_RESOURCE_ATTRIBUTES,
// and OTEL_SERVICE_NAME for service.name (as the OpenTelemetry spec orders the last two).
import * as os from 'node:os';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { Attributes } from '../core/event';
import { parseKeyValueList } from './settings';

export interface ResourceInputs {
  /** k8s.node.name; defaults to $NODE_NAME. */
  nodeName?: string;
  /** k8s.cluster.name when known. */
  clusterName?: string;
  /** Anything else the caller knows, e.g. KubernetesMetadata.resourceAttributes(). */
  attributes?: Attributes;
  /** export.otlp.resourceAttributes from the config file. */
  configured?: Record<string, string>;
  env?: Record<string, string | undefined>;
}

function agentVersion(): string {
  // package.json is two levels up from src/export, three from dist/src/export.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(rel) as { name?: string; version?: string };
      if (pkg.name === 'tapio' && pkg.version) return pkg.version;
    } catch { /* try the next place */ }
  }
  return 'unknown';
}

export function tapioResourceAttributes(inputs: ResourceInputs = {}): Attributes {
  const env = inputs.env ?? process.env;
  const attrs: Attributes = {
    'service.name': 'tapio',
    'service.version': agentVersion(),
    'service.namespace': 'tapio',
    'host.name': os.hostname(),
    'telemetry.sdk.name': 'tapio',
    'telemetry.sdk.language': 'nodejs',
  };
  const node = inputs.nodeName ?? env.NODE_NAME;
  if (node) {
    attrs['k8s.node.name'] = node;
    attrs['service.instance.id'] = node; // one agent per node: the node names the instance
  }
  if (inputs.clusterName) attrs['k8s.cluster.name'] = inputs.clusterName;
  Object.assign(attrs, inputs.attributes ?? {}, inputs.configured ?? {});
  if (env.OTEL_RESOURCE_ATTRIBUTES) Object.assign(attrs, parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES, 'OTEL_RESOURCE_ATTRIBUTES'));
  if (env.OTEL_SERVICE_NAME) attrs['service.name'] = env.OTEL_SERVICE_NAME;
  return attrs;
}

export function tapioResource(inputs: ResourceInputs = {}): Resource {
  return resourceFromAttributes(tapioResourceAttributes(inputs));
}
