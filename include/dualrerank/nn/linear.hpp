// Linear layer y = x W^T + b, W stored [out x in] as in torch.nn.Linear.
#pragma once

#include <string>

#include "../core/params.hpp"
#include "gemm.hpp"
#include "ops.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace nn {

struct linear {
    std::size_t w = no_tensor;  ///< offset of weight [out x in]
    std::size_t b = no_tensor;  ///< offset of bias [out], or no_tensor
    int in = 0, out = 0;

    static linear make(tensor_table& t, const std::string& prefix, int in, int out, bool bias) {
        linear l;
        l.in = in;
        l.out = out;
        const auto init = tensor_init::fan_in(std::size_t(in));  // torch.nn.Linear's default
        l.w = t.add(prefix + ".weight", {std::size_t(out), std::size_t(in)}, true, init);
        if (bias) l.b = t.add(prefix + ".bias", {std::size_t(out)}, false, init);
        return l;
    }

    /// y[n x out] = x[n x in] W^T + b (x with leading dimension ldx, y with ldy).
    template <class T>
    void forward(const T* P, const T* x, int n, T* y, int ldx = -1, int ldy = -1) const noexcept {
        if (n == 0) return;
        ldx = ldx < 0 ? in : ldx;
        ldy = ldy < 0 ? out : ldy;
        gemm_nt<T>(n, out, in, T(1), x, ldx, P + w, in, T(0), y, ldy);
        if (b != no_tensor) add_rows(y, n, out, std::size_t(ldy), P + b);
    }

    /// Accumulates dW += dy^T x, db += colsum(dy) into G, and dx += dy W (when dx != nullptr).
    template <class T>
    void backward(const T* P, const T* x, const T* dy, int n, T* dx, T* G, int ldx = -1, int lddy = -1,
                  int lddx = -1) const noexcept {
        if (n == 0) return;
        ldx = ldx < 0 ? in : ldx;
        lddy = lddy < 0 ? out : lddy;
        lddx = lddx < 0 ? in : lddx;
        gemm_tn<T>(out, in, n, T(1), dy, lddy, x, ldx, T(1), G + w, in);
        if (b != no_tensor) add_column_sums(G + b, dy, n, out, std::size_t(lddy));
        if (dx) gemm_nn<T>(n, in, out, T(1), dy, lddy, P + w, in, T(1), dx, lddx);
    }
};

}  // namespace nn
DUALRERANK_NAMESPACE_END
