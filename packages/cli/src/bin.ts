#!/usr/bin/env node
import { run } from './cli.js';

// A reader of stderr or stdout that went away (EPIPE) is no reason to leave a mount behind.
process.stderr.on('error', () => {});
process.stdout.on('error', () => {});

process.exitCode = await run(process.argv.slice(2), process.env);
