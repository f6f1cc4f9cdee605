#!/usr/bin/env python3
"""A file-operations exerciser in the manner of fsx: random writes, reads, truncates, mmap reads and
writes, and reopenings of one file, each checked against an in-memory copy of what the file must
hold. Written for shylock (not taken from fsx). On the first difference it prints the operation
log and exits 1.
Usage: fsx.py <file> [--ops N] [--seed S] [--max-size BYTES] [--no-mmap]"""
import argparse, mmap, os, random, sys

p = argparse.ArgumentParser()
p.add_argument('file')
p.add_argument('--ops', type=int, default=2000)
p.add_argument('--seed', type=int, default=1)
p.add_argument('--max-size', type=int, default=256 * 1024)
p.add_argument('--no-mmap', action='store_true')
a = p.parse_args()

rng = random.Random(a.seed)
model = bytearray()
log = []
fd = os.open(a.file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)


def fail(why):
    print(f'fsx: {why}', file=sys.stderr)
    print('last operations (newest last):', file=sys.stderr)
    for line in log[-25:]:
        print('  ' + line, file=sys.stderr)
    sys.exit(1)


def span(limit):
    """An offset and length inside [0, limit), with more small and page-edge cases than uniform."""
    off = rng.choice([0, rng.randrange(limit), (rng.randrange(max(1, limit // 4096)) * 4096)])
    off = min(off, limit - 1)
    n = rng.choice([1, rng.randrange(1, 64), rng.randrange(1, 4097), rng.randrange(1, 65537)])
    return off, max(1, min(n, limit - off))


def check_read(off, n, how):
    want = bytes(model[off:off + n])
    if how == 'pread':
        got = os.pread(fd, n, off)
    else:
        got = bytearray()
        while len(got) < n:
            chunk = os.pread(fd, n - len(got), off + len(got))
            if not chunk:
                break
            got += chunk
        got = bytes(got)
    if got != want:
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
        fail(f'{how} {n} at {off}: {len(got)} bytes back, {len(want)} expected; first difference at {off + first}')


def check_size(when):
    size = os.fstat(fd).st_size
    if size != len(model):
        fail(f'size {size} after {when}, {len(model)} expected')


for i in range(a.ops):
    op = rng.choice(['write', 'write', 'write', 'read', 'read', 'truncate', 'mapread', 'mapwrite', 'reopen', 'append'])
    if a.no_mmap and op.startswith('map'):
        op = 'read'
    if op == 'write':
        off, n = span(a.max_size)
        data = bytes(rng.getrandbits(8) for _ in range(min(n, 64))) * (n // 64 + 1)
        data = data[:n]
        log.append(f'{i} write {n} at {off}')
        if os.pwrite(fd, data, off) != n:
            fail('short write')
        if off > len(model):
            model.extend(bytes(off - len(model)))
        model[off:off + n] = data
        check_size('write')
    elif op == 'append':
        n = rng.randrange(1, 5000)
        data = bytes([rng.getrandbits(8)]) * n
        log.append(f'{i} append {n}')
        afd = os.open(a.file, os.O_WRONLY | os.O_APPEND)
        os.write(afd, data)
        os.close(afd)
        model.extend(data)
        check_size('append')
    elif op == 'read':
        if not model:
            continue
        off, n = span(len(model) + 100)
        log.append(f'{i} read {n} at {off}')
        check_read(off, n, 'pread')
    elif op == 'truncate':
        size = rng.choice([0, rng.randrange(a.max_size), len(model) // 2, len(model) + rng.randrange(9000)])
        log.append(f'{i} truncate to {size}')
        os.ftruncate(fd, size)
        if size < len(model):
            del model[size:]
        else:
            model.extend(bytes(size - len(model)))
        check_size('truncate')
    elif op == 'mapread':
        if not model:
            continue
        off, n = span(len(model))
        log.append(f'{i} mapread {n} at {off}')
        with mmap.mmap(fd, len(model), prot=mmap.PROT_READ) as m:
            got = m[off:off + n]
        if got != bytes(model[off:off + n]):
            fail(f'mmap read {n} at {off} differs')
    elif op == 'mapwrite':
        if not model:
            continue
        off, n = span(len(model))
        data = bytes([rng.getrandbits(8)]) * n
        log.append(f'{i} mapwrite {n} at {off}')
        with mmap.mmap(fd, len(model)) as m:
            m[off:off + n] = data
            m.flush()
        model[off:off + n] = data
        check_read(off, n, 'pread')
    elif op == 'reopen':
        log.append(f'{i} close and reopen')
        os.fsync(fd)
        os.close(fd)
        fd = os.open(a.file, os.O_RDWR)
        check_size('reopen')

# Last: the whole file, read back in one pass from a new descriptor.
os.close(fd)
with open(a.file, 'rb') as f:
    whole = f.read()
if whole != bytes(model):
    fail(f'the whole file ({len(whole)} bytes) differs from the model ({len(model)} bytes)')
print(f'fsx: {a.ops} operations, seed {a.seed}, final size {len(model)}: ok')
