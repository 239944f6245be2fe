#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the hand-made seeds of the fuzz corpus (test/fuzz/corpus/TARGET/
seed-*): well-formed traffic of each kind, and the classic breakages.
Inputs the fuzzers found (crashes fixed, new coverage kept) sit beside them
under other names.  Run from anywhere: python3 test/fuzz/seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA, CREDIT, WIN_ADD, WIN_DEL, WIN_DEL_ACK, FENCE_REQ, FENCE_DONE, \
    WIN_SYNC, WIN_SYNC_DONE = range(1, 10)
TCP_ACK, TCP_WRITE, TCP_READ, TCP_RDATA, TCP_DONE, TCP_ACKREQ = \
    67, 68, 69, 70, 71, 72


def hdr(t, plen, credits=0, ccredits=0, version=1):
    return struct.pack('<BBHIHH', t, version, credits, plen, ccredits, 0)


def msg(t, payload=b'', **kw):
    return hdr(t, len(payload), **kw) + payload


def win_add(off, ln, prot, blob):
    return struct.pack('<QQII', off, ln, prot, len(blob)) + blob


def win_del(off, ln, i):
    return struct.pack('<QQII', off, ln, i, 0)


def wid(i):
    return struct.pack('<II', i, 0)


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


def wire():
    write('wire', 'data', msg(DATA, b'hello'))
    write('wire', 'credit', msg(CREDIT, credits=3, ccredits=1))
    write('wire', 'win_add', msg(WIN_ADD, win_add(1 << 62, 4096, 3, b'k' * 16)))
    write('wire', 'win_del', msg(WIN_DEL, win_del(0, 2**64 - 1, 5)))
    write('wire', 'fence_req', msg(FENCE_REQ, wid(1)))
    write('wire', 'bad_version', msg(DATA, b'x', version=2))
    write('wire', 'short', hdr(DATA, 4)[:7])
    write('wire', 'len_mismatch', hdr(DATA, 100) + b'abc')
    write('wire', 'unknown_type', msg(200, b'abc'))
    write('wire', 'credit_payload', msg(CREDIT, b'no'))
    write('wire', 'ctrl_too_long', msg(WIN_ADD, bytes(300)))


def nodemap():
    write('nodemap', 'plain', b'0 192.0.2.1\n1 192.0.2.2\n')
    write('nodemap', 'comments', b'# map\n\n  2\tnode-b # b\n0 ::1\n1 a\n')
    write('nodemap', 'no_newline', b'65534 10.0.0.1')
    write('nodemap', 'dup_id', b'1 a\n1 b\n')
    write('nodemap', 'dup_addr', b'1 a\n2 a\n')
    write('nodemap', 'bad_id', b'-1 a\n')
    write('nodemap', 'id_too_big', b'65535 a\n')
    write('nodemap', 'three', b'1 a b\n')
    write('nodemap', 'one', b'1\n')
    write('nodemap', 'long_addr', b'1 ' + b'a' * 300 + b'\n')
    write('nodemap', 'long_line', b'#' + b'x' * 2000 + b'\n1 a\n')


def ctrl_step(t, payload, lead=0):
    n = len(payload)
    return bytes([(lead & ~1) | (n >> 8), t, n & 0xff]) + payload


def ctrl():
    blob = struct.pack('<H', 0x7a66)
    a1 = ctrl_step(WIN_ADD, win_add(0x1000, 0x1000, 3, blob))
    a2 = ctrl_step(WIN_ADD, win_add(0x3000, 0x2000, 3, blob))
    write('ctrl', 'win_add', a1 + a2)
    write('ctrl', 'overlap', a1 + ctrl_step(WIN_ADD, win_add(0x1800, 0x1000, 3, blob)))
    write('ctrl', 'overlap_below', a2 + ctrl_step(WIN_ADD, win_add(0x2000, 0x1001, 3, blob)))
    write('ctrl', 'duplicate', a1 + a1)
    write('ctrl', 'wrap', ctrl_step(WIN_ADD, win_add(2**64 - 0x1000, 0x2000, 3, blob)))
    write('ctrl', 'empty_window', ctrl_step(WIN_ADD, win_add(0x1000, 0, 3, blob)))
    write('ctrl', 'blob_len_lies', ctrl_step(WIN_ADD, struct.pack('<QQII', 0x1000, 0x1000, 3, 190) + blob))
    write('ctrl', 'bad_blob', ctrl_step(WIN_ADD, win_add(0x1000, 0x1000, 3, b'zz')))
    # our RMAs and signals into the windows, then the peer withdraws them
    ours = bytes([7, 0, 0, 0, 5, 1, 2, 0, 9, 6, 0, 1, 0, 8, 4])
    write('ctrl', 'rma_then_del', a1 + a2 + ours + ctrl_step(WIN_DEL, win_del(0, 2**64 - 1, 1)) + bytes([4, 4, 4]))
    write('ctrl', 'del_part', a1 + a2 + ours + ctrl_step(WIN_DEL, win_del(0x1000, 0x1000, 1)))
    write('ctrl', 'del_wrap', a1 + a2 + ctrl_step(WIN_DEL, win_del(0x2000, 2**64 - 1, 1)))
    write('ctrl', 'fence_req', a1 + ours + ctrl_step(FENCE_REQ, wid(1)) + ctrl_step(WIN_SYNC, wid(2)) + bytes([4, 4]))
    write('ctrl', 'replies', a1 + bytes([6, 0, 0, 0, 6, 0, 0, 0]) + ctrl_step(FENCE_DONE, wid(1)) + ctrl_step(FENCE_DONE, wid(2)))
    write('ctrl', 'reply_twice', a1 + bytes([6, 0, 0, 0]) + ctrl_step(FENCE_DONE, wid(1)) + ctrl_step(FENCE_DONE, wid(1)))
    write('ctrl', 'reply_unasked', ctrl_step(WIN_DEL_ACK, wid(5)) + ctrl_step(WIN_SYNC_DONE, wid(100)))
    write('ctrl', 'unknown', ctrl_step(0, b'') + ctrl_step(60, b'abc'))
    write('ctrl', 'short', ctrl_step(FENCE_REQ, b'abc'))
    write('ctrl', 'long', ctrl_step(WIN_DEL, bytes(40)))


def tcp_frames():
    tag_read, tag_sig = 1 << 32, 1 << 32 | 1
    req = lambda tag, off, ln: struct.pack('<QQQ', tag, off, ln)
    done = lambda tag, st: struct.pack('<QiI', tag, st, 0)
    return {
        'data': msg(DATA, b'x' * 100),
        'ack': msg(TCP_ACK, struct.pack('<QQ', 0, 0)),
        'ackreq': msg(TCP_ACKREQ),
        'data_ask': msg(DATA, b'y' * 8, credits=1),
        'stamp_ahead': msg(DATA, b'z' * 8, ccredits=0x1000),
        'write': msg(TCP_WRITE, req(7, 0x10000 + 8, 0) + bytes(range(16))),
        'write_ro': msg(TCP_WRITE, req(8, 0x20000, 0) + b'\xff' * 16),
        'write_edge': msg(TCP_WRITE, req(9, 0x10000 + 4090, 0) + b'\xff' * 16),
        'write_flags': msg(TCP_WRITE, req(9, 0x10000, 1) + b'\xff' * 8),
        'read': msg(TCP_READ, req(10, 0x10000, 4096)),
        'read_ro': msg(TCP_READ, req(11, 0x20000 + 16, 32)),
        'read_gap': msg(TCP_READ, req(12, 0x11000, 1)),
        'rdata': msg(TCP_RDATA, struct.pack('<Q', tag_read) + bytes(20000)),
        'write_big': msg(TCP_WRITE, req(13, 0x10000, 0) + bytes(range(256)) * 80),
        'rdata_short': msg(TCP_RDATA, struct.pack('<Q', tag_read) + bytes(100)),
        'done': msg(TCP_DONE, done(tag_sig, 0)),
        'done_err': msg(TCP_DONE, done(tag_read, -6)),
        'done_bad': msg(TCP_DONE, done(5, 0)),
        'win_add': msg(WIN_ADD, win_add(0x80000, 4096, 3, struct.pack('<II', 0x42544353, 1))),
        'win_del': msg(WIN_DEL, win_del(0x40000, 0x10000, 1)),
        'fence_req': msg(FENCE_REQ, wid(1)),
        'win_sync': msg(WIN_SYNC, wid(2)),
        'reply_unasked': msg(FENCE_DONE, wid(77)),
        'unknown': msg(99, b'abc'),
        'data_too_big': hdr(DATA, 1 << 20) + bytes(64),
        'bad_version': msg(DATA, b'x', version=0),
        'truncated': msg(TCP_READ, req(10, 0x10000, 4096))[:20],
    }


def tcp():
    f = tcp_frames()
    for name, frame in f.items():
        write('tcp', name, b'\x00' + frame)
    write('tcp', 'session', b'\x02' + f['data'] + f['write'] + f['read'] + f['rdata'] +
          f['done'] + f['fence_req'] + f['win_del'] + f['ack'])
    write('tcp', 'duplicate_done', b'\x01' + f['done'] + f['done'])
    write('tcp', 'overlap', b'\x00' + msg(WIN_ADD, win_add(0x48000, 4096, 3, struct.pack('<II', 0x42544353, 1))))


def shm():
    fr = msg(FENCE_REQ, wid(1))  # 20 bytes, padded to 24
    fr += bytes(24 - len(fr))
    put_c = lambda pos, b: bytes([0]) + struct.pack('<H', pos) + bytes([len(b)]) + b
    put_d = lambda pos, b: bytes([1]) + struct.pack('<H', pos) + bytes([len(b)]) + b
    adv_c = lambda n: bytes([2]) + struct.pack('<H', n)
    adv_d = lambda n: bytes([3]) + struct.pack('<H', n)
    svc = bytes([6, 0, 0])
    recv = lambda n: bytes([7]) + struct.pack('<H', n)
    write('shm', 'fence_req', put_c(0, fr) + adv_c(24) + svc + bytes([5]) + svc)
    write('shm', 'stream', put_d(0, b'y' * 100) + adv_d(100) + svc + recv(50) + recv(80))
    write('shm', 'send', bytes([8, 0, 1, 8, 0, 0x40, 5, 8, 0, 0x40]) + bytes([9, 0, 0]) + svc)
    write('shm', 'tail_out', bytes([4, 0]) + struct.pack('<Q', 2**63) + svc)
    write('shm', 'head_out', bytes([4, 2]) + struct.pack('<Q', 2**40) + bytes([8, 0, 1]))
    write('shm', 'ctrl_too_long', put_c(0, hdr(WIN_DEL, 400)) + adv_c(24) + svc)
    write('shm', 'ctrl_half', put_c(0, fr[:16]) + adv_c(8) + svc)
    write('shm', 'ctrl_type', put_c(0, msg(DATA, b'abcd') + bytes(8)) + adv_c(24) + svc)
    write('shm', 'win_add', put_c(0, msg(WIN_ADD, win_add(0x1000, 0x1000, 3, struct.pack('<IIQ', 0x42534353, 1, 0x7000))) + bytes(4)) + adv_c(64) + svc)


def verbs():
    step = lambda b: bytes([0]) + struct.pack('<H', len(b)) + b
    blob = struct.pack('<IIQ', 0x1234, 0, 0x7f0000000000)
    write('verbs', 'data', step(msg(DATA, b'z' * 300)) + b'\x01' + step(msg(DATA, b'q')))
    write('verbs', 'credit', step(msg(CREDIT, credits=0, ccredits=0)))
    write('verbs', 'credit_over', step(msg(CREDIT, credits=9)))
    write('verbs', 'win_add', step(msg(WIN_ADD, win_add(0x1000, 0x1000, 3, blob))) +
          step(msg(WIN_DEL, win_del(0, 2**64 - 1, 1))))
    write('verbs', 'fence_req', step(msg(FENCE_REQ, wid(1))) + step(msg(WIN_SYNC, wid(2))))
    write('verbs', 'fill', step(msg(DATA, b'a')) * 13)
    write('verbs', 'too_long', step(hdr(DATA, 600) + bytes(500)))
    write('verbs', 'unknown', step(msg(64, b'')))


def hello():
    def tcp_hello(t, node=0, port=7, dnode=1, dport=9, rxwin=1 << 16, magic=0x50544353, ver=1):
        return hdr(t, 20) + struct.pack('<IHHHHHHI', magic, ver, 0, node, port, dnode, dport, rxwin)
    write('hello', 'tcp_hello', b'\x00' + tcp_hello(64))
    write('hello', 'tcp_accept', b'\x02' + tcp_hello(65))
    write('hello', 'tcp_reject', b'\x02' + tcp_hello(66))
    write('hello', 'tcp_accept_as_hello', b'\x00' + tcp_hello(65))
    write('hello', 'tcp_bad_magic', b'\x00' + tcp_hello(64, magic=1))
    write('hello', 'tcp_short', b'\x00' + tcp_hello(64)[:20])
    pd = lambda depth=16, cdepth=8, msg=4096, magic=0x46494353, ver=1: struct.pack(
        '>IBBHHHIHH', magic, ver, 0, 3, 5000, depth, msg, cdepth, 0)
    write('hello', 'verbs_pd', b'\x01' + pd())
    write('hello', 'verbs_pd_long', b'\x01' + pd() + bytes(200))
    write('hello', 'verbs_pd_small_msg', b'\x01' + pd(msg=64))
    write('hello', 'verbs_pd_depth', b'\x01' + pd(depth=1))
    write('hello', 'verbs_pd_short', b'\x01' + pd()[:10])


if __name__ == '__main__':
    wire()
    nodemap()
    ctrl()
    tcp()
    shm()
    verbs()
    hello()
