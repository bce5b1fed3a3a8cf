// Position-wise feed-forward network: fc2(GELU(fc1(x))), exact (erf) GELU as torch.nn.GELU().
#pragma once

#include <cmath>
#include <string>

#include "../core/simd.hpp"
#include "linear.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

template <class T>
inline T gelu(T x) noexcept {
    using std::erf;
    return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440)));
}
template <class T>
inline T gelu_grad(T x) noexcept {
    using std::erf;
    using std::exp;
    const T cdf = T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
    const T pdf = exp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return cdf + x * pdf;
}

/// act[i] = gelu(pre[i]) for i < m, in xsimd lanes (erf from xsimd) with a scalar tail.
template <class T>
inline void gelu_forward(const T* pre, T* act, std::size_t m) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    const B half(T(0.5)), one(T(1)), rs2(T(0.70710678118654752440));
    for (; i + W <= m; i += W) {
        const B x = B::load_unaligned(pre + i);
        (half * x * (one + xsimd::erf(x * rs2))).store_unaligned(act + i);
    }
    for (; i < m; ++i) act[i] = gelu(pre[i]);
}

/// g[i] *= gelu'(pre[i]) for i < m, in xsimd lanes.
template <class T>
inline void gelu_backward(const T* pre, T* g, std::size_t m) noexcept {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    const B half(T(0.5)), one(T(1)), rs2(T(0.70710678118654752440)), c(T(0.39894228040143267794)), mhalf(T(-0.5));
    for (; i + W <= m; i += W) {
        const B x = B::load_unaligned(pre + i);
        const B cdf = half * (one + xsimd::erf(x * rs2));
        const B pdf = simd::exp_floored(B(mhalf * x * x)) * c;
        (B::load_unaligned(g + i) * (cdf + x * pdf)).store_unaligned(g + i);
    }
    for (; i < m; ++i) g[i] *= gelu_grad(pre[i]);
}

struct ffn {
    linear fc1, fc2;
    int d = 0, hidden = 0;

    static ffn make(tensor_table& t, const std::string& prefix, int d, int hidden) {
        ffn f;
        f.d = d;
        f.hidden = hidden;
        f.fc1 = linear::make(t, prefix + ".fc1", d, hidden, true);
        f.fc2 = linear::make(t, prefix + ".fc2", hidden, d, true);
        return f;
    }

    /// y[n x d] = FFN(x). `pre` and `act` are [n x hidden] buffers (kept for backward when training).
    template <class T>
    void forward(const T* P, const T* x, int n, T* y, T* pre, T* act) const noexcept {
        fc1.forward(P, x, n, pre);
        const std::size_t m = std::size_t(n) * hidden;
        gelu_forward(pre, act, m);
        fc2.forward(P, act, n, y);
    }

    /// dx += ..., grads accumulate; `scratch` is an [n x hidden] buffer.
    template <class T>
    void backward(const T* P, const T* x, const T* pre, const T* act, const T* dy, int n, T* dx, T* G,
                  T* scratch) const noexcept {
        const std::size_t m = std::size_t(n) * hidden;
        std::fill(scratch, scratch + m, T(0));
        fc2.backward(P, act, dy, n, scratch, G);
        gelu_backward(pre, scratch, m);
        fc1.backward(P, x, scratch, n, dx, G);
    }
};

}  // namespace nn
DUALRERANK_NAMESPACE_END
