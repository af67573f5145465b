"""Hand-written Numba kernels for the convolution family (called by generated kernels as
``convlib.*``; see conv.py for the layouts and the scratch buffers).

Column matrices hold one row per (channel, kernel tap) and one column per output position,
each output row ``pitch`` columns wide. Classic im2col uses ``pitch = OW``. A stride-1
convolution may use the padded input width as the pitch instead ("wide rows"): then
the columns of one tap and image are a single contiguous run of the padded input plane, so
im2col is one long copy per (tap, image) instead of one short copy per output row; the
``pitch - OW`` extra columns per row are junk that the GEMM carries and the layout moves drop
(gradients hold zeros there, so they add nothing).

Flat arrays are indexed with unsigned integers: a signed index makes Numba emit a
negative-index wraparound select per element, which kept these short loops from vectorizing
(5x slower on LeNet's im2col).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xlalite.backends.numba_cpu.blas import gemm

U = np.uint64


@njit(cache=True)
def _valid_range(offset, stride, size, n_out):
    """Output positions z in [z0, z1) whose input index z * stride + offset lies in [0, size)."""
    z0 = 0 if offset >= 0 else (-offset + stride - 1) // stride
    last = size - 1 - offset
    z1 = min(n_out, last // stride + 1) if last >= 0 else 0
    return min(z0, n_out), max(z1, min(z0, n_out))


# ------------------------------------------------------------------ layout moves (both paths)
@njit(cache=True)
def nchw_to_rows(a, n0, n1, t, pitch):
    """t[o, ((n - n0) * OH + y) * pitch + z] = a[n, o, y, z] (zero for OW <= z < pitch)."""
    o, oh, ow = a.shape[1], a.shape[2], a.shape[3]
    af, tf = a.reshape(-1), t.reshape(-1)
    m = (n1 - n0) * oh * pitch
    for img in range(n0, n1):
        for oc in range(o):
            for y in range(oh):
                src, dst = ((img * o + oc) * oh + y) * ow, oc * m + ((img - n0) * oh + y) * pitch
                for z in range(ow):
                    tf[U(dst + z)] = af[U(src + z)]
                for z in range(ow, pitch):
                    tf[U(dst + z)] = 0


@njit(cache=True)
def rows_to_nchw(t, n0, n1, a, pitch, o0, o1):
    """The inverse of nchw_to_rows for channels [o0, o1):
    a[n, o, y, z] = t[o, ((n - n0) * OH + y) * pitch + z]."""
    o, oh, ow = a.shape[1], a.shape[2], a.shape[3]
    af, tf = a.reshape(-1), t.reshape(-1)
    m = (n1 - n0) * oh * pitch
    for img in range(n0, n1):
        for oc in range(o0, o1):
            for y in range(oh):
                dst, src = ((img * o + oc) * oh + y) * ow, oc * m + ((img - n0) * oh + y) * pitch
                for z in range(ow):
                    af[U(dst + z)] = tf[U(src + z)]


# ------------------------------------------------------------------ strided path (pitch = OW)
@njit(cache=True)
def im2col(x, n0, n1, c0, cols, kh, kw, stride, low, dilation, oh, ow):
    """cols[(ci, i, j), (n - n0, y, z)] = x[n, c0 + ci, y*s + i*d - p, z*s + j*d - p], zero in
    the padding. The valid range of each tap is computed once: the inner loops do not branch."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    cg, m = cols.shape[0] // (kh * kw), cols.shape[1]
    xf, cf = x.reshape(-1), cols.reshape(-1)
    for ci in range(cg):
        for i in range(kh):
            for j in range(kw):
                r = (ci * kh + i) * kw + j
                off = j * dilation[1] - low[1]
                z0, z1 = _valid_range(off, stride[1], wd, ow)
                for img in range(n0, n1):
                    for y in range(oh):
                        yy = y * stride[0] + i * dilation[0] - low[0]
                        lo, hi = (z0, z1) if 0 <= yy < h else (ow, ow)
                        d = r * m + ((img - n0) * oh + y) * ow
                        src = ((img * c + c0 + ci) * h + yy) * wd + off
                        for z in range(lo):
                            cf[U(d + z)] = 0
                        for z in range(lo, hi):
                            cf[U(d + z)] = xf[U(src + z * stride[1])]
                        for z in range(hi, ow):
                            cf[U(d + z)] = 0


@njit(cache=True)
def col2im(cols, n0, n1, c0, dx, kh, kw, stride, low, dilation, oh, ow):
    """The adjoint of im2col: dx[n, c0 + ci, y*s + i*d - p, z*s + j*d - p] += cols[...]."""
    c, h, wd = dx.shape[1], dx.shape[2], dx.shape[3]
    cg, m = cols.shape[0] // (kh * kw), cols.shape[1]
    cf, df = cols.reshape(-1), dx.reshape(-1)
    for ci in range(cg):
        for i in range(kh):
            for j in range(kw):
                r = (ci * kh + i) * kw + j
                off = j * dilation[1] - low[1]
                z0, z1 = _valid_range(off, stride[1], wd, ow)
                for img in range(n0, n1):
                    for y in range(oh):
                        yy = y * stride[0] + i * dilation[0] - low[0]
                        if yy < 0 or yy >= h:
                            continue
                        d = r * m + ((img - n0) * oh + y) * ow
                        dst = ((img * c + c0 + ci) * h + yy) * wd + off
                        for z in range(z0, z1):
                            df[U(dst + z * stride[1])] += cf[U(d + z)]


# ------------------------------------------------------------------ stride-1 path (wide rows)
@njit(cache=True)
def pad_planes(x, n0, n1, c0, xp, top, left):
    """xp[n - n0, ci] = x[n, c0 + ci] inside a zero border (xp is (n1-n0, cg, HP, WP))."""
    c, h, wd = x.shape[1], x.shape[2], x.shape[3]
    cg, hp, wp = xp.shape[1], xp.shape[2], xp.shape[3]
    xf, pf = x.reshape(-1), xp.reshape(-1)
    for q in range(pf.shape[0]):
        pf[U(q)] = 0
    for k in range(n1 - n0):
        for ci in range(cg):
            for y in range(h):
                src = (((n0 + k) * c + c0 + ci) * h + y) * wd
                dst = ((k * cg + ci) * hp + top + y) * wp + left
                for z in range(wd):
                    pf[U(dst + z)] = xf[U(src + z)]


@njit(cache=True)
def crop_planes_add(xp, n0, n1, c0, dx, top, left):
    """dx[n, c0 + ci] += xp[n - n0, ci] inside the border: the adjoint of pad_planes."""
    c, h, wd = dx.shape[1], dx.shape[2], dx.shape[3]
    cg, hp, wp = xp.shape[1], xp.shape[2], xp.shape[3]
    df, pf = dx.reshape(-1), xp.reshape(-1)
    for k in range(n1 - n0):
        for ci in range(cg):
            for y in range(h):
                dst = (((n0 + k) * c + c0 + ci) * h + y) * wd
                src = ((k * cg + ci) * hp + top + y) * wp + left
                for z in range(wd):
                    df[U(dst + z)] += pf[U(src + z)]


@njit(cache=True)
def im2col_wide(src, img0, nimg, c0, cols, kh, kw, dilation, oh, ow):
    """cols[(ci, i, j), (k, y, z)] = src[img0 + k, c0 + ci, y + i*d, z + j*d] for z < OW and
    0 for OW <= z < pitch, pitch being src's (padded) width: one contiguous run per (tap,
    image), then the junk columns zeroed. Left as they are they would hold neighbouring input
    values, and a gradient GEMM multiplying them by zeros would turn an inf or NaN into NaN."""
    c, hp, pitch = src.shape[1], src.shape[2], src.shape[3]
    cg, m = cols.shape[0] // (kh * kw), cols.shape[1]
    sf, cf = src.reshape(-1), cols.reshape(-1)
    run = (oh - 1) * pitch + ow  # the last row's junk columns would read past the plane
    for ci in range(cg):
        for i in range(kh):
            for j in range(kw):
                r = (ci * kh + i) * kw + j
                for k in range(nimg):
                    s = ((img0 + k) * c + c0 + ci) * hp * pitch + i * dilation[0] * pitch + j * dilation[1]
                    d = r * m + k * oh * pitch
                    for q in range(run):
                        cf[U(d + q)] = sf[U(s + q)]
                    for q in range(run, oh * pitch):
                        cf[U(d + q)] = 0
                    for y in range(oh - 1):
                        for q in range(ow, pitch):
                            cf[U(d + y * pitch + q)] = 0


@njit(cache=True)
def col2im_wide(cols, dst, img0, nimg, c0, kh, kw, dilation, oh, ow):
    """The adjoint of im2col_wide: dst[img0 + k, c0 + ci] planes += the runs of cols."""
    c, hp, pitch = dst.shape[1], dst.shape[2], dst.shape[3]
    cg, m = cols.shape[0] // (kh * kw), cols.shape[1]
    df, cf = dst.reshape(-1), cols.reshape(-1)
    run = (oh - 1) * pitch + ow
    for ci in range(cg):
        for i in range(kh):
            for j in range(kw):
                r = (ci * kh + i) * kw + j
                for k in range(nimg):
                    s = ((img0 + k) * c + c0 + ci) * hp * pitch + i * dilation[0] * pitch + j * dilation[1]
                    d = r * m + k * oh * pitch
                    for q in range(run):
                        df[U(s + q)] += cf[U(d + q)]


# ------------------------------------------------------------------ both paths behind one call
@njit(cache=True)
def _padded(pbuf, nimg, cg, x, low, high):
    hp, wp = x.shape[2] + low[0] + high[0], x.shape[3] + low[1] + high[1]
    return pbuf[:nimg * cg * hp * wp].reshape((nimg, cg, hp, wp))


@njit(cache=True)
def columns(x, n0, n1, c0, cols, pbuf, kh, kw, stride, low, high, dilation, oh, ow):
    """im2col of images [n0, n1) and channels [c0, c0 + cg): classic when the columns have
    OW per output row, wide rows (stride 1 only) when they have the padded width."""
    if cols.shape[1] == (n1 - n0) * oh * ow:
        im2col(x, n0, n1, c0, cols, kh, kw, stride, low, dilation, oh, ow)
        return
    src, img0, ch0 = x, n0, c0
    if low[0] or low[1] or high[0] or high[1]:  # wide rows read the padded input
        src = _padded(pbuf, n1 - n0, cols.shape[0] // (kh * kw), x, low, high)
        pad_planes(x, n0, n1, c0, src, low[0], low[1])
        img0, ch0 = 0, 0
    im2col_wide(src, img0, n1 - n0, ch0, cols, kh, kw, dilation, oh, ow)


@njit(cache=True)
def uncolumns(cols, n0, n1, c0, dx, pbuf, kh, kw, stride, low, high, dilation, oh, ow):
    """dx[n0:n1, c0:c0+cg] += the adjoint of `columns` (same choice of layout)."""
    if cols.shape[1] == (n1 - n0) * oh * ow:
        col2im(cols, n0, n1, c0, dx, kh, kw, stride, low, dilation, oh, ow)
        return
    padded = low[0] or low[1] or high[0] or high[1]
    dst, img0, ch0 = dx, n0, c0
    if padded:  # wide rows accumulate into padded planes, cropped into dx afterwards
        dst = _padded(pbuf, n1 - n0, cols.shape[0] // (kh * kw), dx, low, high)
        pf = dst.reshape(-1)
        for q in range(pf.shape[0]):
            pf[U(q)] = 0
        img0, ch0 = 0, 0
    col2im_wide(cols, dst, img0, n1 - n0, ch0, kh, kw, dilation, oh, ow)
    if padded:
        crop_planes_add(dst, n0, n1, c0, dx, low[0], low[1])


# ------------------------------------------------------------------ the three ops
# Each works on `chunk` images at a time so the chunk's columns stay in the L2 cache between
# im2col and the GEMM (4x faster than one GEMM over the whole batch on LeNet's layers). The
# chunks are dealt to `slots` workers, chunk c to slot c % slots (a fixed split): the driver
# runs one *_slot call per worker on its own thread (threads.run_slots; these release the
# GIL). A Numba prange loop here instead cost 20-60 s of compile time per function, cold.
# colbuf, tbuf, pbuf are flat scratch holding `slots` equal parts: the columns, the O-row
# matrix and padded planes of one chunk each.

#: output channels shared out between slots start at multiples of this: BLAS computes rows in
#: blocks (OpenBLAS's sgemm kernels: 4 to 16 rows, by CPU; 12 here) whose halves and tails may
#: sum in other orders, so shares aligned to a common multiple of the block sizes give every
#: channel exactly the rounding of one unsplit product (SqueezeNet's constant-weight
#: conformance model, whose logits reach 1e10, needs all 1000 equal to the last bit)
BLAS_ROWS = 48


@njit(cache=True)
def _part(buf, slot, slots):
    size = buf.shape[0] // slots
    return buf[slot * size:(slot + 1) * size]


@njit(cache=True, nogil=True)
def conv2d_slot(slot, slots, x, w, out, colbuf, tbuf, pbuf, stride, low, high, dilation, groups,
                chunk, pitch):
    """Slot `slot`'s share of out = conv2d(x, w): per chunk and group, W_g @ columns(x),
    moved into N,O,OH,OW. With fewer chunks than slots (one image) the slots share each chunk
    instead, each computing the columns and its own block of output channels."""
    n, (o, cg, kh, kw), (oh, ow) = x.shape[0], w.shape, (out.shape[2], out.shape[3])
    og, ckk = o // groups, cg * kh * kw
    wf = w.reshape(-1)
    cb, tb, pb = _part(colbuf, slot, slots), _part(tbuf, slot, slots), _part(pbuf, slot, slots)
    if n <= (slots - 1) * chunk and groups == 1 and o > BLAS_ROWS:
        per = -(-o // slots)
        per = -(-per // BLAS_ROWS) * BLAS_ROWS
        lo, hi = min(o, slot * per), min(o, slot * per + per)
        if lo == hi:
            return
        for n0 in range(0, n, chunk):
            n1 = min(n, n0 + chunk)
            m = (n1 - n0) * oh * pitch
            cols = cb[:ckk * m].reshape((ckk, m))
            columns(x, n0, n1, 0, cols, pb, kh, kw, stride, low, high, dilation, oh, ow)
            gemm(0, 0, hi - lo, m, ckk, wf, lo * ckk, ckk, cb, 0, m, 0.0, tb, lo * m, m)
            rows_to_nchw(tb[:o * m].reshape((o, m)), n0, n1, out, pitch, lo, hi)
        return
    for n0 in range(slot * chunk, n, slots * chunk):
        n1 = min(n, n0 + chunk)
        m = (n1 - n0) * oh * pitch
        cols = cb[:ckk * m].reshape((ckk, m))
        for g in range(groups):
            columns(x, n0, n1, g * cg, cols, pb, kh, kw, stride, low, high, dilation, oh, ow)
            gemm(0, 0, og, m, ckk, wf, g * og * ckk, ckk, cb, 0, m, 0.0, tb, g * og * m, m)
        rows_to_nchw(tb[:o * m].reshape((o, m)), n0, n1, out, pitch, 0, o)


@njit(cache=True, nogil=True)
def grad_weight_slot(slot, slots, x, g, dw, colbuf, tbuf, pbuf, accbuf, stride, low, high,
                     dilation, groups, chunk, pitch):
    """Slot `slot`'s share of dw = conv2d_grad_weight(x, g): the sum of columns(x) @ g_rows^T
    (dw transposed, per group) over its chunks, into its part of `accbuf` (see sum_parts).
    This orientation (a tall result, K x O) ran at twice the rate of g_rows @ columns^T."""
    n, (o, cg, kh, kw), (oh, ow) = x.shape[0], dw.shape, (g.shape[2], g.shape[3])
    og, ckk = o // groups, cg * kh * kw
    cb, tb, pb = _part(colbuf, slot, slots), _part(tbuf, slot, slots), _part(pbuf, slot, slots)
    acc = _part(accbuf, slot, slots)
    acc[:o * ckk] = 0
    for n0 in range(slot * chunk, n, slots * chunk):
        n1 = min(n, n0 + chunk)
        m = (n1 - n0) * oh * pitch
        cols = cb[:ckk * m].reshape((ckk, m))
        nchw_to_rows(g, n0, n1, tb[:o * m].reshape((o, m)), pitch)
        for gi in range(groups):
            columns(x, n0, n1, gi * cg, cols, pb, kh, kw, stride, low, high, dilation, oh, ow)
            gemm(0, 1, ckk, og, m, cb, 0, m, tb, gi * og * m, m, 1.0, acc, gi * og * ckk, og)


@njit(cache=True, nogil=True)
def sum_parts(accbuf, dw, groups, slots):
    """dw = the slots' partial sums (each group's block transposed, (ckk, og)), added in slot
    order so the result is reproducible."""
    o = dw.shape[0]
    og, ckk = o // groups, dw.size // o
    part = accbuf.shape[0] // slots
    dwf = dw.reshape(-1)
    for oc in range(o):
        gi, j = oc // og, oc % og
        for r in range(ckk):
            at = gi * og * ckk + r * og + j
            total = accbuf[at]
            for slot in range(1, slots):
                total += accbuf[slot * part + at]
            dwf[oc * ckk + r] = total


@njit(cache=True, nogil=True)
def grad_input_slot(slot, slots, g, w, dx, colbuf, tbuf, pbuf, stride, low, high, dilation,
                    groups, chunk, pitch):
    """Slot `slot`'s share of dx = conv2d_grad_input(g, w): per chunk and group,
    uncolumns(W_g^T @ g_rows) into its images of dx."""
    n, (o, cg, kh, kw), (oh, ow) = g.shape[0], w.shape, (g.shape[2], g.shape[3])
    og, ckk = o // groups, cg * kh * kw
    wf, plane = w.reshape(-1), dx.shape[1] * dx.shape[2] * dx.shape[3]
    dxf = dx.reshape(-1)
    cb, tb, pb = _part(colbuf, slot, slots), _part(tbuf, slot, slots), _part(pbuf, slot, slots)
    for n0 in range(slot * chunk, n, slots * chunk):
        n1 = min(n, n0 + chunk)
        m = (n1 - n0) * oh * pitch
        dxf[n0 * plane:n1 * plane] = 0
        nchw_to_rows(g, n0, n1, tb[:o * m].reshape((o, m)), pitch)
        for gi in range(groups):
            gemm(1, 0, ckk, m, og, wf, gi * og * ckk, ckk, tb, gi * og * m, m, 0.0, cb, 0, m)
            uncolumns(cb[:ckk * m].reshape((ckk, m)), n0, n1, gi * cg, dx, pb, kh, kw, stride,
                      low, high, dilation, oh, ow)


@njit(cache=True)
def conv2d_int(x, w, out, stride, pad_lo, dilation, groups):
    """Direct convolution for integer dtypes (BLAS has no integer GEMM)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    for img in range(n):
        for oc in range(o):
            g = oc // og
            for y in range(out.shape[2]):
                for z in range(out.shape[3]):
                    s = 0
                    for ci in range(cg):
                        for i in range(kh):
                            yy = y * stride[0] + i * dilation[0] - pad_lo[0]
                            if yy < 0 or yy >= h:
                                continue
                            for j in range(kw):
                                zz = z * stride[1] + j * dilation[1] - pad_lo[1]
                                if 0 <= zz < wd:
                                    s += x[img, g * cg + ci, yy, zz] * w[oc, ci, i, j]
                    out[img, oc, y, z] = s
