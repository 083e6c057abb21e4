#!/bin/bash
# What test:arm64 runs inside the arm64 VM (cwd: the checkout), in one boot: the architecture seen, `tapio probe`
# (its JSON on one line), then the loader, process and network tests with node --test (TAP; other test files as
# arguments). Exits non-zero if any step failed. (Every collector started for real is gen-doc.sh's job: the
# security collector alone takes minutes to load under TCG.)
set -u
echo "arm64-guest: $(uname -m) $(uname -r) node $(node -p 'process.version + " " + process.arch')"
node bin/tapio.js probe --json > /km/probe.json; probe=$?
echo "arm64-guest: probe exit $probe"
tr -d '\n' < /km/probe.json; echo
[ $# -gt 0 ] || set -- dist/test/kernel/loader.test.js dist/test/collectors/process.test.js dist/test/collectors/network.test.js
node --test --test-concurrency=1 --test-reporter=tap "$@"
tests=$?
echo "arm64-guest: tests exit $tests"
exit $((probe || tests))
