// @kubernetes/client-node as the agent loads it: the two parts it uses (KubeConfig, ListWatch), from the bundle
// scripts/build-kubernetes-client.js writes at build time (dist/vendor/kubernetes-client.js): ~6 MiB of V8 heap
// instead of the ~26 the package's entry point costs (it loads every generated API client, and V8 keeps their
// source). The same library code either way; a checkout built without the bundle loads the package. Loaded only once
// there is an API server to talk to: host mode never loads either.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Library from '@kubernetes/client-node';

export type KubernetesLibrary = Pick<typeof Library, 'KubeConfig' | 'ListWatch'>;

/** Where the build puts the bundle, from dist/src/identity/kubernetes/. */
export const LIBRARY_BUNDLE = path.join(__dirname, '..', '..', '..', 'vendor', 'kubernetes-client.js');

let loaded: KubernetesLibrary | undefined;

export function kubernetesLibrary(): KubernetesLibrary {
  loaded ??= (fs.existsSync(LIBRARY_BUNDLE) ? require(LIBRARY_BUNDLE) : require('@kubernetes/client-node')) as KubernetesLibrary;
  return loaded;
}
