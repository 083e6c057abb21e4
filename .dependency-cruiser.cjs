// The arrows between src/ rooms (docs/architecture.md draws them). A new import that points up the data flow, or
// any cycle, fails `npm run lint` (and so `npm test`). Rooms, lowest first:
//   core          the vocabulary: depends on nothing of ours
//   config        schema and loading            -> core
//   kernel        probe, load, attach, maps     -> core          (the only room that touches the native addon)
//   protocols     pure parsers over bytes       -> core
//   identity      cgroups, runtimes, k8s        -> core, config
//   collectors    hooks + decoders              -> core, config, kernel, protocols
//   pipeline      filter, hold, limits          -> core, config, kernel (limits write BPF config maps)
//   export        console, OTLP, spool          -> core, config
//   observe       own metrics, health, status   -> core, config, kernel, pipeline, collectors
//   agent         wires everything together     -> everything but cli
//   cli           parse arguments, print        -> everything
const ROOMS = {
  core: [],
  config: ['core'],
  kernel: ['core'],
  protocols: ['core'],
  identity: ['core', 'config'],
  collectors: ['core', 'config', 'kernel', 'protocols'],
  pipeline: ['core', 'config', 'kernel'],
  export: ['core', 'config'],
  observe: ['core', 'config', 'kernel', 'pipeline', 'collectors'],
  agent: ['core', 'config', 'kernel', 'protocols', 'identity', 'collectors', 'pipeline', 'export', 'observe'],
  cli: ['core', 'config', 'kernel', 'protocols', 'identity', 'collectors', 'pipeline', 'export', 'observe', 'agent'],
};

const roomRules = Object.entries(ROOMS).map(([room, allowed]) => ({
  name: `${room}-imports-only-${allowed.length ? allowed.join('-') : 'itself'}`,
  comment: `src/${room} may import from: ${[room, ...allowed].join(', ')} (see the top of .dependency-cruiser.cjs)`,
  severity: 'error',
  from: { path: `^src/${room}/` },
  to: { path: '^src/', pathNot: `^src/(${[room, ...allowed].join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...roomRules,
    {
      name: 'no-unknown-room',
      comment: 'every file under src/ lives in one of the rooms listed in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${Object.keys(ROOMS).join('|')})/` },
      to: {},
    },
    {
      name: 'native-addon-only-from-kernel',
      comment: 'only src/kernel touches the native addon',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/kernel/' },
      to: { path: '^src/kernel/native\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles between files',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
