#!/usr/bin/env python3
"""Side-by-side POSIX probe: runs the same system calls in a directory and prints one line per
case, "<case>: <result>" (ok, a value, or the errno name). Run it on a plain directory and on a
mount of it: every line must match. Cases follow the areas of the classic file system suites
(open, mkdir, rmdir, unlink, rename, link, symlink, truncate, chmod, chown, utimensat, mknod,
permissions); they were written for shylock, not taken from one.
Usage: posix-probe.py <dir> [--as-nobody]"""
import errno, os, stat, subprocess, sys

root = sys.argv[1]
nobody = '--as-nobody' in sys.argv
os.chdir(root)
out = []

def case(name, fn):
    try:
        r = fn()
        out.append(f"{name}: {'ok' if r is None else r}")
    except OSError as e:
        out.append(f"{name}: {errno.errorcode.get(e.errno, e.errno)}")

def mode(p):
    return oct(stat.S_IMODE(os.lstat(p).st_mode))

def kind(p):
    m = os.lstat(p).st_mode
    return 'dir' if stat.S_ISDIR(m) else 'link' if stat.S_ISLNK(m) else 'fifo' if stat.S_ISFIFO(m) else 'file' if stat.S_ISREG(m) else 'other'

def write(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, m=0o644):
    fd = os.open(p, flags, m)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)

def read(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)

def long_path(total, last=b'f'):
    """A relative path of `total` bytes: 'lp/', components of 255 bytes, then `last` padded."""
    parts = [b'lp']
    size = 2
    while total - size - 1 > 255 + 1 + len(last):
        parts.append(bytes([97 + len(parts) % 26]) * 255)
        size += 256
    parts.append(last + b'x' * (total - size - 1 - len(last)))
    return b'/'.join(parts)
LP = long_path(4095)
LPDIR = os.path.dirname(LP)
def makedirs(p):
    built = b''
    for part in p.split(b'/'):
        built = part if not built else built + b'/' + part
        if not os.path.lexists(built):
            os.mkdir(built)

if nobody:
    # Run as an unprivileged user in a directory prepared by root (see the test).
    case('read 0644 root file', lambda: read('root.txt'))
    case('write 0644 root file', lambda: write('root.txt', b'x', os.O_WRONLY))
    case('create in 0755 root dir', lambda: write('rootdir/new', b'x'))
    case('create in 1777 dir', lambda: write('sticky/mine', b'x'))
    case('owner of created file', lambda: f"{os.stat('sticky/mine').st_uid}:{os.stat('sticky/mine').st_gid}")
    case('unlink other user file in sticky dir', lambda: os.unlink('sticky/theirs'))
    case('chmod root file', lambda: os.chmod('root.txt', 0o777))
    case('chown own file to root', lambda: os.chown('sticky/mine', 0, 0))
    case('read 0600 root file', lambda: read('secret.txt'))
    case('list 0700 root dir', lambda: sorted(os.listdir('private')))
    case('utime root file to a past time', lambda: os.utime('root.txt', (1, 1)))
    case('setxattr on a 0644 root file', lambda: os.setxattr('root.txt', 'user.k', b'1'))
    case('setxattr on an own file', lambda: (os.setxattr('sticky/mine', 'user.k', b'1'), os.getxattr('sticky/mine', 'user.k'))[1])
    case('trusted attribute as nobody', lambda: os.setxattr('sticky/mine', 'trusted.k', b'1'))
    case('a file made in a setgid directory takes its group', lambda: (write('sgid/f', b'x'), f"{os.stat('sgid/f').st_uid}:{os.stat('sgid/f').st_gid}")[1])
    case('a directory made in a setgid directory takes its group and the bit', lambda: (os.mkdir('sgid/d'), (os.stat('sgid/d').st_gid, oct(os.stat('sgid/d').st_mode & 0o2000)))[1])
    case('a symlink made in a setgid directory', lambda: (os.symlink('f', 'sgid/l'), os.lstat('sgid/l').st_gid)[1])
    case('chmod of a file of another user', lambda: os.chmod('sticky/theirs', 0o666))
    case('utime to a given time of a file of another user', lambda: os.utime('sticky/theirs', (5, 5)))
    case('utime to now of a writable file of another user', lambda: os.utime('sticky/open-to-all'))
    case('rename of another user file in a sticky directory', lambda: os.rename('sticky/theirs', 'sticky/mine-now'))
    case('chown of an own file to a group one is not in', lambda: os.chown('sticky/mine', -1, 0))
    case('O_TRUNC of a file one may only read', lambda: os.open('root.txt', os.O_WRONLY | os.O_TRUNC))
    case('create in a directory without search permission', lambda: write('noexec/f', b'x'))
    case('chmod g+s of an own file, not in its group', lambda: (write('sgid/g', b'x'), os.chmod('sgid/g', 0o2755), mode('sgid/g'))[2])
    case('a write clears setuid', lambda: (write('sticky/suid', b'x'), os.chmod('sticky/suid', 0o4755), write('sticky/suid', b'y', os.O_WRONLY), mode('sticky/suid'))[3])
    case('as nobody, a 4,095-byte path in a directory of its own', lambda: (os.mkdir('sticky/lp-home'), os.chdir('sticky/lp-home'), makedirs(LPDIR), write(LP, b'mine'),
        read(LP), os.stat(LP).st_uid, os.unlink(LP), os.chdir('../..'), subprocess.run(['rm', '-rf', 'sticky/lp-home'], check=True).returncode)[4:6])
    print('\n'.join(out))
    sys.exit(0)

os.umask(0o022)
# open
case('open O_CREAT mode 0640', lambda: (os.close(os.open('a', os.O_CREAT | os.O_WRONLY, 0o640)), mode('a'))[1])
case('open O_CREAT|O_EXCL existing', lambda: os.open('a', os.O_CREAT | os.O_EXCL | os.O_WRONLY))
case('open missing without O_CREAT', lambda: os.open('missing', os.O_RDONLY))
case('open through a file', lambda: os.open('a/x', os.O_RDONLY))
case('open dir for writing', lambda: (os.mkdir('d0'), os.open('d0', os.O_WRONLY))[1])
case('open dir read-only', lambda: (os.close(os.open('d0', os.O_RDONLY)), 'opened')[1])
case('open name of 256 bytes', lambda: os.open('n' * 256, os.O_CREAT | os.O_WRONLY))
case('O_TRUNC empties', lambda: (write('t', b'hello'), write('t', b'', os.O_WRONLY | os.O_TRUNC), os.stat('t').st_size)[2])
case('O_APPEND writes at the end', lambda: (write('ap', b'one'), write('ap', b'two', os.O_WRONLY | os.O_APPEND), read('ap'))[2])
case('write on O_RDONLY fd', lambda: os.write(os.open('ap', os.O_RDONLY), b'x'))
case('pread past the end', lambda: len(os.pread(os.open('ap', os.O_RDONLY), 10, 1000)))
case('pwrite past the end zero-fills', lambda: (os.pwrite(os.open('ap', os.O_WRONLY), b'Z', 10), read('ap'))[1])
# mkdir / rmdir
case('mkdir mode 0750', lambda: (os.mkdir('d1', 0o750), mode('d1'))[1])
case('mkdir existing', lambda: os.mkdir('d1'))
case('mkdir under missing parent', lambda: os.mkdir('nope/d'))
case('mkdir under a file', lambda: os.mkdir('a/d'))
case('rmdir non-empty', lambda: (write('d1/f', b'x'), os.rmdir('d1'))[1])
case('rmdir a file', lambda: os.rmdir('a'))
case('rmdir missing', lambda: os.rmdir('missing'))
case('rmdir dot', lambda: os.rmdir('d1/.'))
case('dir nlink counts subdirs', lambda: (os.mkdir('d1/s1'), os.mkdir('d1/s2'), os.stat('d1').st_nlink)[2])
# unlink
case('unlink a directory', lambda: os.unlink('d1'))
case('unlink missing', lambda: os.unlink('missing'))
case('unlink a file', lambda: (write('u', b'x'), os.unlink('u'), os.path.exists('u'))[2])
# rename
case('rename file over file', lambda: (write('r1', b'new'), write('r2', b'old'), os.rename('r1', 'r2'), read('r2'))[3])
case('rename file over dir', lambda: (os.mkdir('rd'), os.rename('r2', 'rd'))[1])
case('rename dir over file', lambda: os.rename('rd', 'r2'))
case('rename dir over non-empty dir', lambda: os.rename('rd', 'd1'))
case('rename dir over empty dir', lambda: (os.mkdir('re'), os.rename('rd', 're'), kind('re'))[2])
case('rename dir into itself', lambda: os.rename('d1', 'd1/s1/x'))
case('rename missing', lambda: os.rename('missing', 'x'))
case('rename a name to itself', lambda: os.rename('r2', 'r2'))
# link / symlink / readlink
case('link a file', lambda: (os.link('r2', 'r3'), os.stat('r2').st_nlink)[1])
case('link over existing', lambda: os.link('r2', 'r3'))
case('link a directory', lambda: os.link('d1', 'd1link'))
case('link missing', lambda: os.link('missing', 'x2'))
case('unlink one link keeps the other', lambda: (os.unlink('r2'), read('r3'), os.stat('r3').st_nlink)[1:])
case('symlink and readlink', lambda: (os.symlink('r3', 'sl'), os.readlink('sl'))[1])
case('symlink absolute target stored', lambda: (os.symlink('/etc/hostname-nowhere', 'sa'), os.readlink('sa'))[1])
case('symlink over existing', lambda: os.symlink('x', 'sl'))
case('readlink a file', lambda: os.readlink('r3'))
case('lstat of a symlink', lambda: kind('sl'))
case('open through a symlink', lambda: read('sl'))
case('symlink loop', lambda: (os.symlink('loop2', 'loop1'), os.symlink('loop1', 'loop2'), os.open('loop1', os.O_RDONLY))[2])
case('open O_NOFOLLOW on a symlink', lambda: os.open('sl', os.O_RDONLY | os.O_NOFOLLOW))
case('dangling symlink', lambda: (os.symlink('gone', 'dangle'), os.open('dangle', os.O_RDONLY))[1])
# truncate
case('truncate grow and shrink', lambda: (write('tr', b'abcdef'), os.truncate('tr', 3), os.truncate('tr', 5), read('tr'))[3])
case('truncate a directory', lambda: os.truncate('d1', 0))
case('truncate negative', lambda: os.truncate('tr', -1))
case('ftruncate', lambda: (os.ftruncate(os.open('tr', os.O_WRONLY), 1), os.stat('tr').st_size)[1])
# chmod / chown / times
case('chmod 0604', lambda: (os.chmod('tr', 0o604), mode('tr'))[1])
case('chmod setuid and sticky bits', lambda: (os.chmod('tr', 0o4755), os.chmod('d1', 0o1777), mode('tr'), mode('d1'))[2:])
case('chown', lambda: (os.chown('tr', 1234, 5678), (os.stat('tr').st_uid, os.stat('tr').st_gid))[1])
case('chown -1 keeps the group', lambda: (os.chown('tr', 4321, -1), (os.stat('tr').st_uid, os.stat('tr').st_gid))[1])
case('lchown a symlink', lambda: (os.lchown('sl', 99, 98), (os.lstat('sl').st_uid, os.stat('r3').st_uid))[1])
case('utime seconds', lambda: (os.utime('tr', (1000000000, 1600000000)), (int(os.stat('tr').st_atime), int(os.stat('tr').st_mtime)))[1])
case('utime milliseconds', lambda: (os.utime('tr', ns=(1_000_000_123_000_000, 1_600_000_456_000_000)), os.stat('tr').st_mtime_ns // 1_000_000)[1])
case('utime microseconds', lambda: (os.utime('tr', ns=(1_000_000_000_123_456_000, 1_600_000_000_456_789_000)), (round(os.stat('tr').st_atime_ns / 1000), round(os.stat('tr').st_mtime_ns / 1000)))[1])
case('utime nanoseconds', lambda: (os.utime('tr', ns=(1_000_000_000_123_456_789, 1_600_000_000_987_654_321)), (os.stat('tr').st_atime_ns, os.stat('tr').st_mtime_ns))[1])
case('utime nanoseconds of a symlink itself', lambda: (os.utime('sl', ns=(1_100_000_000_000_000_001, 1_200_000_000_999_999_999), follow_symlinks=False), (os.lstat('sl').st_atime_ns, os.lstat('sl').st_mtime_ns))[1])
case('touch -d with nanoseconds', lambda: (subprocess.run(['touch', '-d', '@1650000000.000000007', 'tr'], check=True), os.stat('tr').st_mtime_ns)[1])
case('touch -m keeps the atime (UTIME_OMIT)', lambda: (os.utime('tr', (1000000000, 1500000000)), subprocess.run(['touch', '-m', '-d', '@1600000000', 'tr'], check=True), (int(os.stat('tr').st_atime), int(os.stat('tr').st_mtime)))[2])
case('touch -a keeps the mtime (UTIME_OMIT)', lambda: (subprocess.run(['touch', '-a', '-d', '@1700000000', 'tr'], check=True), (int(os.stat('tr').st_atime), int(os.stat('tr').st_mtime)))[1])
case('an O_RDONLY create makes the file', lambda: (os.close(os.open('rdonly-created', os.O_CREAT | os.O_RDONLY, 0o640)), oct(os.stat('rdonly-created').st_mode))[1])
case('mtime changes on write', lambda: (os.utime('tr', (1, 1)), write('tr', b'x', os.O_WRONLY), os.stat('tr').st_mtime > 1)[2])
# special files
case('mkfifo', lambda: (os.mkfifo('fifo', 0o600), kind('fifo'), mode('fifo'))[1:])
case('mknod a regular file', lambda: (os.mknod('node', 0o600 | stat.S_IFREG), kind('node'))[1])
# directory listing
case('listdir', lambda: sorted(os.listdir('d1')))
case('scandir types', lambda: sorted((e.name, e.is_dir(follow_symlinks=False), e.is_symlink()) for e in os.scandir('.') if e.name in ('d1', 'sl', 'r3')))
# names are bytes: not UTF-8, and NAME_MAX counted in bytes
case('create and list a name that is not UTF-8', lambda: (write(b'caf\xe9', b'latin-1'), write(b'\xff\xfe\x80', b'x'), sorted(n for n in os.listdir(b'.') if n[:1] in (b'c', b'\xff')))[2])
case('read back a name that is not UTF-8', lambda: read(b'caf\xe9'))
case('a name of 255 bytes that are not UTF-8', lambda: (write(b'\xe9' * 255, b'x'), os.stat(b'\xe9' * 255).st_size)[1])
case('a name of 256 such bytes', lambda: write(b'\xe9' * 256, b'x'))
case('rename between names that are not UTF-8', lambda: (os.mkdir(b'dir\xf0'), os.rename(b'caf\xe9', b'dir\xf0/\xe8t\xe9'), os.listdir(b'dir\xf0'))[2])
case('a symlink target that is not UTF-8', lambda: (os.symlink(b'tar\xe9get', b'ln\xe9'), os.readlink(b'ln\xe9'))[1])
case('a name of valid UTF-8 with U+FFFD stays as it is', lambda: (write('r\ufffd\u00e9'.encode(), b'y'), sorted(n for n in os.listdir(b'.') if n.startswith(b'r\xef')))[1])
# more of the classic suites' areas: setgid directories, ctime, open and truncate edge cases
def ctime_moves(fn):
    before = os.lstat('ct').st_ctime_ns
    fn()
    return os.lstat('ct').st_ctime_ns > before
case('a file made in a setgid directory takes its group', lambda: (os.mkdir('sg'), os.chown('sg', 0, 4242), os.chmod('sg', 0o2775), write('sg/f', b'x'), os.stat('sg/f').st_gid)[4])
case('a directory made in a setgid directory takes its group and the bit', lambda: (os.mkdir('sg/d'), (os.stat('sg/d').st_gid, oct(os.stat('sg/d').st_mode & 0o2000)))[1])
case('chown clears setuid on a file', lambda: (write('su', b'x'), os.chmod('su', 0o4755), os.chown('su', 1000, 1000), mode('su'))[3])
case('ctime moves on chmod, chown, rename, link, write, truncate', lambda: (write('ct', b'x'), [ctime_moves(f) for f in (
    lambda: os.chmod('ct', 0o600), lambda: os.chown('ct', 77, 77), lambda: os.rename('ct', 'ct'), lambda: (os.link('ct', 'ct2'), os.unlink('ct2')),
    lambda: write('ct', b'yy', os.O_WRONLY), lambda: os.truncate('ct', 1))])[1])
case('O_DIRECTORY on a file', lambda: os.open('ct', os.O_RDONLY | os.O_DIRECTORY))
case('O_CREAT through a dangling symlink creates its target', lambda: (os.symlink('made-by-link', 'dl'), os.close(os.open('dl', os.O_CREAT | os.O_WRONLY, 0o600)), kind('made-by-link'))[2])
case('O_CREAT|O_EXCL on a dangling symlink', lambda: (os.symlink('nowhere', 'dl2'), os.open('dl2', os.O_CREAT | os.O_EXCL | os.O_WRONLY))[1])
case('ftruncate of a read-only descriptor', lambda: os.ftruncate(os.open('ct', os.O_RDONLY), 0))
case('a trailing slash on a file', lambda: os.stat('ct/'))
case('mkdir with a trailing slash', lambda: (os.mkdir('ts/'), kind('ts'))[1])
case('rename a directory onto its parent', lambda: (os.mkdir('ts/in'), os.rename('ts/in', 'ts'))[1])
case('unlink then read an open file', lambda: (write('gone', b'still here'), (lambda fd: (os.unlink('gone'), os.read(fd, 100))[1])(os.open('gone', os.O_RDONLY)))[1])
case('rename over a file that is open keeps its data', lambda: (write('old', b'old data'), write('new', b'new'), (lambda fd: (os.rename('new', 'old'), os.read(fd, 100), read('old'))[1:])(os.open('old', os.O_RDONLY)))[2])
case('a hole reads as zeros and takes no blocks', lambda: (write('hole', b''), os.truncate('hole', 1 << 20), read('hole')[:4], os.stat('hole').st_blocks)[2:])
# inode numbers: the backing file's own, shared by hard links, stable across renames
case('hard links share an inode number', lambda: (write('ino-a', b'x'), os.link('ino-a', 'ino-b'), os.stat('ino-a').st_ino == os.stat('ino-b').st_ino)[2])
case('a rename keeps the inode number', lambda: (lambda before: (os.rename('ino-b', 'ino-c'), os.stat('ino-c').st_ino == before)[1])(os.stat('ino-b').st_ino))
case('readdir inode numbers match stat', lambda: all(e.inode() == os.lstat(e.name).st_ino for e in os.scandir('.') if e.name.startswith('ino-')))
# the caller's mode is used as it is: the mounting process's umask does not apply again
def with_umask(m, fn):
    old = os.umask(m)
    try:
        return fn()
    finally:
        os.umask(old)
case('create 0777 under umask 0', lambda: with_umask(0, lambda: (write('um-f', b'', m=0o777), mode('um-f'))[1]))
case('create 04777 under umask 0', lambda: with_umask(0, lambda: (write('um-s', b'', m=0o4777), mode('um-s'))[1]))
case('mkdir 0777 under umask 0', lambda: with_umask(0, lambda: (os.mkdir('um-d', 0o777), mode('um-d'))[1]))
case('mkfifo 0666 under umask 0', lambda: with_umask(0, lambda: (os.mkfifo('um-p', 0o666), mode('um-p'))[1]))
case('create 0666 under umask 027', lambda: with_umask(0o027, lambda: (write('um-g', b'', m=0o666), mode('um-g'))[1]))
# Unix domain sockets
import socket
socks = []
def bind(p):
    s = socket.socket(socket.AF_UNIX)
    s.bind(p)
    socks.append(s)
case('bind a Unix socket', lambda: (bind('sock'), stat.S_ISSOCK(os.lstat('sock').st_mode))[1])
case('connect to it', lambda: (socks[0].listen(1), socket.socket(socket.AF_UNIX).connect('sock'))[1])
case('open a socket', lambda: os.open('sock', os.O_RDONLY))
case('mkdir over a socket', lambda: os.mkdir('sock'))
case('bind over an existing socket', lambda: bind('sock'))
case('a path through a socket', lambda: os.stat('sock/x'))
case('chmod a socket', lambda: (os.chmod('sock', 0o600), mode('sock'))[1])
case('rename a socket', lambda: (os.rename('sock', 'sock2'), stat.S_ISSOCK(os.lstat('sock2').st_mode))[1])
case('unlink a socket', lambda: (os.unlink('sock2'), os.path.lexists('sock2'))[1])
# long paths: every path the kernel takes (up to 4,095 bytes, relative to the working directory)
# works, although the backing directory's own path in front of it passes PATH_MAX
case('path lengths tried', lambda: (len(LP), len(long_path(4096))))
case('mkdir down to a 4,095-byte path', lambda: (makedirs(LPDIR), kind(LPDIR))[1])
case('create, write and read at 4,095 bytes', lambda: (write(LP, b'deep'), read(LP), os.stat(LP).st_size)[1:])
case('chmod, chown, utime, truncate at 4,095 bytes', lambda: (os.chmod(LP, 0o640), os.chown(LP, 5, 6), os.truncate(LP, 2), os.utime(LP, (7, 8)),
    (mode(LP), os.stat(LP).st_uid, os.stat(LP).st_gid, os.stat(LP).st_mtime, read(LP)))[4])
case('xattrs at 4,095 bytes', lambda: (os.setxattr(LP, 'user.deep', b'1'), os.getxattr(LP, 'user.deep'), 'user.deep' in os.listxattr(LP))[1:])
case('rename, link, symlink, readlink at 4,095 bytes', lambda: (os.rename(LP, LP[:-1] + b'r'), os.link(LP[:-1] + b'r', LP), os.unlink(LP[:-1] + b'r'),
    os.symlink(b'target', LP[:-1] + b's'), os.readlink(LP[:-1] + b's'), os.stat(LP).st_nlink)[4:])
case('list the deepest directory', lambda: sorted((len(n), n[-1:]) for n in os.listdir(LPDIR)))
case('mkfifo, mkdir, rmdir, unlink at 4,095 bytes', lambda: (lambda r: (r[2], r[6], len(r[8])))((os.unlink(LP[:-1] + b's'), os.mkfifo(LP[:-1] + b'p'), kind(LP[:-1] + b'p'), os.unlink(LP[:-1] + b'p'),
    os.unlink(LP), os.mkdir(LP), kind(LP), os.rmdir(LP), os.listdir(LPDIR))))
def from_deep_inside(fn):
    back = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chdir(LPDIR)
        return fn()
    finally:
        os.fchdir(back)
        os.close(back)
case('4,095 bytes more from the deepest directory', lambda: from_deep_inside(lambda: (makedirs(LPDIR), write(LP, b'deeper'), read(LP),
    (os.chmod(LP, 0o600), mode(LP))[1], os.listdir(LPDIR) == [os.path.basename(LP)], os.unlink(LP))[2:5]))
case('create at 4,096 bytes', lambda: write(long_path(4096), b'x'))
case('remove the deep tree', lambda: (subprocess.run(['rm', '-rf', 'lp'], check=True), os.path.lexists('lp'))[1])
# extended attributes
def xa_err(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
case('setxattr and getxattr', lambda: (write('xa', b'x'), os.setxattr('xa', 'user.k', b'v\x00\xff'), os.getxattr('xa', 'user.k'))[2])
case('listxattr', lambda: (os.setxattr('xa', 'user.k2', b''), sorted(n for n in os.listxattr('xa') if n.startswith('user.')))[1])
case('setxattr XATTR_CREATE over an attribute', lambda: os.setxattr('xa', 'user.k', b'2', os.XATTR_CREATE))
case('setxattr XATTR_REPLACE of none', lambda: os.setxattr('xa', 'user.none', b'2', os.XATTR_REPLACE))
case('getxattr and removexattr of none', lambda: (xa_err(lambda: os.getxattr('xa', 'user.none')), xa_err(lambda: os.removexattr('xa', 'user.none'))))
case('removexattr', lambda: (os.removexattr('xa', 'user.k2'), sorted(n for n in os.listxattr('xa') if n.startswith('user.')))[1])
case('a 4000-byte value', lambda: (os.setxattr('xa', 'user.big', b'b' * 4000), len(os.getxattr('xa', 'user.big')))[1])
case('a user attribute on a symlink itself', lambda: os.setxattr('sl', 'user.k', b'1', follow_symlinks=False))
case('getxattr through a symlink', lambda: (os.symlink('xa', 'xa-link'), os.getxattr('xa-link', 'user.k'))[1])
case('trusted attribute as root', lambda: (os.setxattr('xa', 'trusted.k', b't'), os.getxattr('xa', 'trusted.k'))[1])
case('attributes of a directory', lambda: (os.setxattr('d1', 'user.dir', b'd'), os.getxattr('d1', 'user.dir'))[1])

print('\n'.join(out))
