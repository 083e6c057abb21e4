#!/usr/bin/env node
'use strict';
// Rewrites docs/configuration.md from the config schema (run after `npm run setup` has compiled src/).
const fs = require('node:fs');
const path = require('node:path');
const { configReference } = require('../dist/src/config/reference');
fs.writeFileSync(path.join(__dirname, '..', 'docs', 'configuration.md'), configReference());
