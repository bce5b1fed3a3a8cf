// LayerNorm over the last dimension, eps = 1e-5, with affine weight and bias (torch.nn.LayerNorm).
#pragma once

#include <cmath>
#include <string>

#include "../core/params.hpp"
#include "ops.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

struct layer_norm {
    std::size_t g = no_tensor, b = no_tensor;
    int d = 0;
    static constexpr double eps = 1e-5;

    static layer_norm make(tensor_table& t, const std::string& prefix, int d) {
        layer_norm l;
        l.d = d;
        l.g = t.add(prefix + ".weight", {std::size_t(d)}, false, tensor_init::one());
        l.b = t.add(prefix + ".bias", {std::size_t(d)}, false);
        return l;
    }

    /// y = LN(x) row by row; stores mean and 1/std per row when the pointers are given.
    template <class T>
    void forward(const T* P, const T* x, int n, T* y, T* mean = nullptr, T* rstd = nullptr) const noexcept {
        using std::sqrt;
        using B = xsimd::batch<T>;
        constexpr int W = int(B::size);
        const T* gamma = P + g;
        const T* beta = P + b;
        const int full = d / W * W;
        for (int r = 0; r < n; ++r) {
            const T* xr = x + std::size_t(r) * d;
            T* yr = y + std::size_t(r) * d;
            const T m = sum(xr, std::size_t(d)) / T(d);
            const B vm(m);
            T v = 0;
            int i = 0;
            if (full > 0) {
                B acc(T(0));
                for (; i < full; i += W) {
                    const B c = B::load_unaligned(xr + i) - vm;
                    acc = xsimd::fma(c, c, acc);
                }
                v = simd::reduce_add(acc);
            }
            for (; i < d; ++i) {
                const T c = xr[i] - m;
                v += c * c;
            }
            v /= T(d);
            const T rs = T(1) / sqrt(v + T(eps));
            const B vr(rs);
            for (i = 0; i < full; i += W)
                xsimd::fma((B::load_unaligned(xr + i) - vm) * vr, B::load_unaligned(gamma + i), B::load_unaligned(beta + i))
                    .store_unaligned(yr + i);
            for (; i < d; ++i) yr[i] = (xr[i] - m) * rs * gamma[i] + beta[i];
            if (mean) mean[r] = m;
            if (rstd) rstd[r] = rs;
        }
    }

    /// dx += LN'(x)^T dy; dgamma, dbeta accumulate into G.
    template <class T>
    void backward(const T* P, const T* x, const T* mean, const T* rstd, const T* dy, int n, T* dx, T* G) const noexcept {
        using B = xsimd::batch<T>;
        constexpr int W = int(B::size);
        const T* gamma = P + g;
        T* dgamma = G + g;
        T* dbeta = G + b;
        const int full = d / W * W;
        for (int r = 0; r < n; ++r) {
            const T* xr = x + std::size_t(r) * d;
            const T* dyr = dy + std::size_t(r) * d;
            T* dxr = dx + std::size_t(r) * d;
            const T m = mean[r], rs = rstd[r];
            const B vm(m), vr(rs);
            T sum_dxhat = 0, sum_dxhat_xhat = 0;
            int i = 0;
            if (full > 0) {
                B s1(T(0)), s2(T(0));
                for (; i < full; i += W) {
                    const B xhat = (B::load_unaligned(xr + i) - vm) * vr;
                    const B dyv = B::load_unaligned(dyr + i);
                    const B dxhat = dyv * B::load_unaligned(gamma + i);
                    s1 += dxhat;
                    s2 = xsimd::fma(dxhat, xhat, s2);
                    xsimd::fma(dyv, xhat, B::load_unaligned(dgamma + i)).store_unaligned(dgamma + i);
                    (B::load_unaligned(dbeta + i) + dyv).store_unaligned(dbeta + i);
                }
                sum_dxhat = simd::reduce_add(s1);
                sum_dxhat_xhat = simd::reduce_add(s2);
            }
            for (; i < d; ++i) {
                const T xhat = (xr[i] - m) * rs;
                const T dxhat = dyr[i] * gamma[i];
                sum_dxhat += dxhat;
                sum_dxhat_xhat += dxhat * xhat;
                dgamma[i] += dyr[i] * xhat;
                dbeta[i] += dyr[i];
            }
            const T a = sum_dxhat / T(d), c = sum_dxhat_xhat / T(d);
            const B va(a), vc(c);
            for (i = 0; i < full; i += W) {
                const B xhat = (B::load_unaligned(xr + i) - vm) * vr;
                const B t = B::load_unaligned(dyr + i) * B::load_unaligned(gamma + i) - va - xhat * vc;
                xsimd::fma(vr, t, B::load_unaligned(dxr + i)).store_unaligned(dxr + i);
            }
            for (; i < d; ++i) {
                const T xhat = (xr[i] - m) * rs;
                dxr[i] += rs * (dyr[i] * gamma[i] - a - xhat * c);
            }
        }
    }
};

}  // namespace nn
DUALRERANK_NAMESPACE_END
