#!/usr/bin/env node
import { run } from './cli.js';

// A reader of stderr or stdout that went away (EPIPE) is no reason to leave a mount behind.
process.stderr.on('error', () => {});
process.stdout.on('error', () => {});
// @shylock/s3 pins an AWS SDK release that supports this Node; its notice about later releases
// needing Node 22 is for SDK users, not for someone mounting a bucket.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await run(process.argv.slice(2), process.env);
