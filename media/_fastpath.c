/* The SFU's compiled per-packet send: rewrite one forwarded RTP packet, SRTP-protect it and send it, in one call.
 *
 * Why: after media/fastsend.py the Python part of sending one packet to one subscriber (building the rewritten
 * packet, cffi's memmove and srtp_protect calls, slicing the buffer, socket.sendto) still cost more than the
 * syscall itself. Here the packet is written once into a module buffer (fixed header with the subscriber's
 * SSRC/sequence/timestamp/payload type, CSRCs, the subscriber's extension block, payload), protected in place by
 * libsrtp and handed to sendto(2) on the ICE pair's socket. No Python object is made per packet.
 *
 * libsrtp is the one pylibsrtp already loaded: `init()` receives the address of its `srtp_protect`, and every call
 * the session pointer (`srtp_t`), so both paths use the same session state (keys, rollover counters).
 *
 * Why not sendmmsg(2): it batches datagrams of one socket, and here each subscriber has its own ICE socket while
 * one loop turn relays one publisher datagram (asyncio reads one per readiness callback), so a turn holds one
 * packet per socket: a batch of one.
 *
 * The module is optional: media/fastsend.py falls back to its pure-Python path when it is not built.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

typedef int (*protect_fn)(void *ctx, void *rtp, int *len);

#define BUF_SIZE 2048
#define TRAILER 144 /* SRTP_MAX_TRAILER_LEN: the most libsrtp may append */

static protect_fn srtp_protect_ptr = NULL;
static Py_ssize_t max_rtp = 1456;
static unsigned char buf[BUF_SIZE];
static int last_len = 0;

static PyObject *
fp_init(PyObject *self, PyObject *args)
{
    unsigned long long addr;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "Kn", &addr, &limit))
        return NULL;
    if (addr == 0 || limit <= 12 || limit + TRAILER > BUF_SIZE) {
        PyErr_SetString(PyExc_ValueError, "bad srtp_protect address or packet limit");
        return NULL;
    }
    srtp_protect_ptr = (protect_fn)(uintptr_t)addr;
    max_rtp = limit;
    Py_RETURN_NONE;
}

/* The subscriber's one-byte-form extension block (media/rtp.py ExtensionRewriter.build's fast path) into out:
 * static elements, abs-send-time, transport-cc sequence, then the publisher's elements whose id remap[id] is
 * non-zero (renumbered), padded, with the 0xBEDE word. Its length; 0 if empty. spec args: static, abs_byte,
 * abs_value, tcc_byte, tcc_value, remap (16 bytes), ext_offset, ext_length. */
static Py_ssize_t
build_ext(unsigned char *out, Py_ssize_t room, const unsigned char *d, Py_ssize_t dlen, PyObject *const *spec)
{
    Py_buffer st, remap;
    long abs_byte = PyLong_AsLong(spec[1]);
    long long abs_value = PyLong_AsLongLong(spec[2]);
    long tcc_byte = PyLong_AsLong(spec[3]);
    long long tcc_value = PyLong_AsLongLong(spec[4]);
    Py_ssize_t pos = PyLong_AsSsize_t(spec[6]);
    Py_ssize_t elen = PyLong_AsSsize_t(spec[7]);
    if (PyErr_Occurred())
        return -1;
    if (PyObject_GetBuffer(spec[0], &st, PyBUF_SIMPLE) < 0)
        return -1;
    if (PyObject_GetBuffer(spec[5], &remap, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&st);
        return -1;
    }
    Py_ssize_t n = -1;
    const unsigned char *map = remap.buf;
    if (st.len < 4 || remap.len != 16 || room < st.len + 8) {
        PyErr_SetString(PyExc_ValueError, "rtp: bad extension spec");
        goto done;
    }
    memcpy(out, st.buf, (size_t)st.len);
    n = st.len;
    if (abs_value >= 0 && abs_byte) {
        out[n++] = (unsigned char)abs_byte;
        out[n++] = (unsigned char)(abs_value >> 16);
        out[n++] = (unsigned char)(abs_value >> 8);
        out[n++] = (unsigned char)abs_value;
    }
    if (tcc_value >= 0 && tcc_byte) {
        out[n++] = (unsigned char)tcc_byte;
        out[n++] = (unsigned char)(tcc_value >> 8);
        out[n++] = (unsigned char)tcc_value;
    }
    if (pos >= 0 && elen > 0 && pos + elen <= dlen) {
        Py_ssize_t end = pos + elen;
        while (pos < end) {
            unsigned char b = d[pos];
            int xid = b >> 4;
            if (xid == 0) {
                pos++;
                continue;
            }
            if (xid == 15)
                break;
            Py_ssize_t nxt = pos + (b & 0x0F) + 2;
            if (nxt > end)
                break;
            if (map[xid]) {
                Py_ssize_t len = nxt - pos;
                if (n + len + 3 > room) {
                    n = -1;
                    PyErr_SetString(PyExc_ValueError, "rtp: extension block too long");
                    goto done;
                }
                out[n] = (unsigned char)((map[xid] << 4) | (b & 0x0F));
                memcpy(out + n + 1, d + pos + 1, (size_t)(len - 1));
                n += len;
            }
            pos = nxt;
        }
    }
    if (n == 4) {
        n = 0;
        goto done;
    }
    while (n & 3)
        out[n++] = 0;
    out[0] = 0xBE;
    out[1] = 0xDE;
    out[2] = (unsigned char)(((n - 4) >> 2) >> 8);
    out[3] = (unsigned char)((n - 4) >> 2);
done:
    PyBuffer_Release(&st);
    PyBuffer_Release(&remap);
    return n;
}

/* Write the rewritten packet into out; its length, 0 if over max_rtp, -1 with an exception set.
 * spec: NULL, or the extension spec (build_ext) used instead of args[7]. */
static Py_ssize_t
build(unsigned char *out, PyObject *const *args, PyObject *const *spec)
{
    /* args: data, payload_offset, csrc_count, ssrc, sequence, timestamp, payload_type, ext_block */
    Py_buffer data, ext;
    Py_ssize_t payload_offset = PyLong_AsSsize_t(args[1]);
    long csrc_count = PyLong_AsLong(args[2]);
    unsigned long ssrc = PyLong_AsUnsignedLongMask(args[3]);
    unsigned long seq = PyLong_AsUnsignedLongMask(args[4]);
    unsigned long ts = PyLong_AsUnsignedLongMask(args[5]);
    unsigned long pt = PyLong_AsUnsignedLongMask(args[6]);
    int have_ext = spec != NULL || args[7] != Py_None;
    if (PyErr_Occurred())
        return -1;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return -1;
    ext.len = 0;
    ext.buf = NULL;
    if (spec == NULL && have_ext && PyObject_GetBuffer(args[7], &ext, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return -1;
    }
    const unsigned char *d = data.buf;
    Py_ssize_t csrc_end = 12 + 4 * (Py_ssize_t)csrc_count;
    Py_ssize_t n = -1;
    unsigned char ext_tmp[512];
    if (spec != NULL) {
        Py_ssize_t elen = build_ext(ext_tmp, (Py_ssize_t)sizeof(ext_tmp), d, data.len, spec);
        if (elen < 0) {
            PyBuffer_Release(&data);
            return -1;
        }
        ext.buf = ext_tmp;
        ext.len = elen;
    }
    if (data.len < 12 || csrc_count < 0 || csrc_count > 15 || csrc_end > data.len || payload_offset < csrc_end
        || payload_offset > data.len || (ext.len & 3) || (ext.len != 0 && ext.len < 4)) {
        PyErr_SetString(PyExc_ValueError, "rtp: packet and header do not match");
        goto done;
    }
    Py_ssize_t tail;
    unsigned char b0 = d[0];
    if (!have_ext) { /* keep everything after the fixed header */
        tail = data.len - 12;
        n = 12 + tail;
    } else {
        tail = data.len - payload_offset;
        n = csrc_end + ext.len + tail;
        b0 = ext.len ? (b0 | 0x10) : (b0 & 0xEF);
    }
    if (n > max_rtp) {
        n = 0;
        goto done;
    }
    out[0] = b0;
    out[1] = (unsigned char)((d[1] & 0x80) | (pt & 0x7F));
    out[2] = (unsigned char)(seq >> 8);
    out[3] = (unsigned char)seq;
    out[4] = (unsigned char)(ts >> 24);
    out[5] = (unsigned char)(ts >> 16);
    out[6] = (unsigned char)(ts >> 8);
    out[7] = (unsigned char)ts;
    out[8] = (unsigned char)(ssrc >> 24);
    out[9] = (unsigned char)(ssrc >> 16);
    out[10] = (unsigned char)(ssrc >> 8);
    out[11] = (unsigned char)ssrc;
    if (!have_ext) {
        memcpy(out + 12, d + 12, (size_t)tail);
    } else {
        memcpy(out + 12, d + 12, (size_t)(csrc_end - 12));
        if (ext.len)
            memcpy(out + csrc_end, ext.buf, (size_t)ext.len);
        memcpy(out + csrc_end + ext.len, d + payload_offset, (size_t)tail);
    }
done:
    PyBuffer_Release(&data);
    if (have_ext && spec == NULL)
        PyBuffer_Release(&ext);
    return n;
}

static int
protect(unsigned char *out, PyObject *srtp, int *len)
{
    void *ctx = PyLong_AsVoidPtr(srtp);
    if (ctx == NULL && PyErr_Occurred())
        return -1;
    if (srtp_protect_ptr == NULL || ctx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "media._fastpath: init() not called or no SRTP session");
        return -1;
    }
    int rc = srtp_protect_ptr(ctx, out, len);
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "srtp_protect failed (%d)", rc);
        return -1;
    }
    return 0;
}

/* send(srtp, fd, addr, data, payload_offset, csrc_count, ssrc, sequence, timestamp, payload_type, ext_block)
 * or send(srtp, fd, addr, data, payload_offset, csrc_count, ssrc, sequence, timestamp, payload_type, *spec)
 * with the 8 items of build_ext's spec in place of ext_block
 * -> protected length sent; 0 if the rewritten packet is over the limit (nothing done); -errno if sendto failed
 * (the protected packet stays readable through last()). fd < 0: protect only (-EAGAIN returned). */
static PyObject *
fp_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11 && nargs != 18) {
        PyErr_SetString(PyExc_TypeError, "send() takes 11 arguments, or 10 and an 8-item extension spec");
        return NULL;
    }
    long fd = PyLong_AsLong(args[1]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer addr;
    if (PyObject_GetBuffer(args[2], &addr, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n = build(buf, args + 3, nargs == 18 ? args + 10 : NULL);
    if (n <= 0) {
        PyBuffer_Release(&addr);
        return n < 0 ? NULL : PyLong_FromLong(0);
    }
    int len = (int)n;
    if (protect(buf, args[0], &len) < 0) {
        PyBuffer_Release(&addr);
        return NULL;
    }
    last_len = len;
    long result = len;
    if (fd < 0) {
        result = -EAGAIN;
    } else {
        ssize_t sent;
        Py_BEGIN_ALLOW_THREADS /* never blocks (a non-blocking socket), but lets other threads run */
        sent = sendto((int)fd, buf, (size_t)len, MSG_DONTWAIT, (const struct sockaddr *)addr.buf,
                      (socklen_t)addr.len);
        Py_END_ALLOW_THREADS
        if (sent < 0)
            result = -errno;
    }
    PyBuffer_Release(&addr);
    return PyLong_FromLong(result);
}

static PyObject *
fp_last(PyObject *self, PyObject *unused)
{
    return PyBytes_FromStringAndSize((const char *)buf, last_len);
}

static PyMethodDef methods[] = {
    {"init", fp_init, METH_VARARGS, "init(srtp_protect_address, max_rtp): libsrtp's protect and the packet limit"},
    {"send", (PyCFunction)(void (*)(void))fp_send, METH_FASTCALL,
     "send(srtp, fd, addr, data, payload_offset, csrc_count, ssrc, seq, ts, pt, ext_block) -> int"},
    {"last", fp_last, METH_NOARGS, "the last protected packet of send() (for the asyncio fallback)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "media._fastpath",
                                    "Compiled rewrite + SRTP protect + send of one forwarded packet.", -1, methods};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    return PyModule_Create(&module);
}
