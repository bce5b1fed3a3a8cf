// dualrerank/eigen.hpp: Eigen matrices in, Eigen maps out (opt-in; the only header that includes
// Eigen, docs/serving.md "Eigen").
//
// A request_view points at N x F features stored row-major and contiguous. An Eigen expression
// whose memory already has that layout (a row-major matrix, a row-major Map or Ref with outer
// stride F, a single row or column) is viewed in place; anything else (column-major storage, a
// strided block, another scalar type, an expression without storage) is copied into the caller's
// request_buffer. The copy is explicit (the buffer is an argument and request_buffer::copied()
// says whether the last call copied) and allocation-free once the buffer has grown to the largest
// request. Results go back the other way: eigen::slate_map, logits_map and scores_map wrap the
// caller's buffers without copying.
//
// Eigen 3.3 to 5.x; this header is not part of the single-header amalgamation
// (tools/amalgamate.py), so a serving build without Eigen never sees it.
#pragma once

#include <Eigen/Core>

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "version.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace eigen {

/// Row-major dynamic float matrix (the library's layout) and maps over it.
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_matrix_map = Eigen::Map<row_matrix>;
using const_row_matrix_map = Eigen::Map<const row_matrix>;

namespace detail {

/// Pointer to a row-major contiguous rows x cols float block equal to x, or null when x's
/// storage does not have that layout (then the caller copies).
template <class Derived>
const float* contiguous_row_major(const Eigen::DenseBase<Derived>& x) noexcept {
    using D = Derived;
    if constexpr (std::is_same<typename D::Scalar, float>::value && (int(D::Flags) & Eigen::DirectAccessBit) != 0) {
        const D& d = x.derived();
        const Eigen::Index rows = d.rows(), cols = d.cols();
        // strides of one row step and one column step, whatever the storage order
        const Eigen::Index row_step = D::IsRowMajor ? d.outerStride() : d.innerStride();
        const Eigen::Index col_step = D::IsRowMajor ? d.innerStride() : d.outerStride();
        if ((cols <= 1 || col_step == 1) && (rows <= 1 || row_step == cols)) return d.data();
    }
    return nullptr;
}

template <class Derived>
void copy_row_major(const Eigen::DenseBase<Derived>& x, std::vector<float>& out) {
    const Eigen::Index rows = x.rows(), cols = x.cols();
    const std::size_t need = std::size_t(rows) * std::size_t(cols);
    if (out.size() < need) out.resize(need);  // grows once to the largest request, then reused
    float* p = out.data();
    for (Eigen::Index i = 0; i < rows; ++i)
        for (Eigen::Index j = 0; j < cols; ++j) *p++ = static_cast<float>(x.derived().coeff(i, j));
}

}  // namespace detail

/// Caller-owned storage for the copies a request may need (features, context); one per thread,
/// reused across requests. A view returned by request_buffer::view is valid while the Eigen inputs
/// and this buffer live and until the buffer's next call.
class request_buffer {
public:
    request_buffer() = default;
    /// Reserves room for n x f features and fc context values now (the warm-up, done explicitly).
    request_buffer(int n, int f, int fc) { reserve(n, f, fc); }
    void reserve(int n, int f, int fc) {
        if (n > 0 && f > 0) features_.reserve(std::size_t(n) * std::size_t(f));
        if (fc > 0) context_.reserve(std::size_t(fc));
    }

    /// features: N x F (rows = candidates), context: a vector of Fc values (any Eigen vector,
    /// row or column; an empty vector or a 0-size expression for a model without context),
    /// upstream_rank: null or N ints. input_error on a context that is not a vector.
    template <class Features, class Context>
    request_view<float> view(const Eigen::DenseBase<Features>& features, const Eigen::DenseBase<Context>& context,
                             const int* upstream_rank = nullptr) {
        request_view<float> v = view(features, upstream_rank);
        if (context.rows() != 1 && context.cols() != 1 && context.size() != 0)
            dualrerank::detail::throw_input("eigen::request_buffer: context must be a vector, got " +
                                            std::to_string(context.rows()) + " x " + std::to_string(context.cols()));
        v.fc = static_cast<int>(context.size());
        if (v.fc == 0) {
            v.context = nullptr;
        } else if (const float* p = detail::contiguous_row_major(context)) {
            v.context = p;
        } else {
            detail::copy_row_major(context, context_);
            v.context = context_.data();
            copied_ = true;
        }
        return v;
    }

    /// A request without context features.
    template <class Features>
    request_view<float> view(const Eigen::DenseBase<Features>& features, const int* upstream_rank = nullptr) {
        check_size(features.rows(), "rows (candidates)");
        check_size(features.cols(), "columns (features)");
        copied_ = false;
        request_view<float> v;
        v.n = static_cast<int>(features.rows());
        v.f = static_cast<int>(features.cols());
        v.upstream_rank = upstream_rank;
        if (const float* p = detail::contiguous_row_major(features)) {
            v.features = p;
        } else {
            detail::copy_row_major(features, features_);
            v.features = features_.data();
            copied_ = true;
        }
        return v;
    }

    /// Whether the last view copied its features or context (false: it points into the Eigen data).
    bool copied() const noexcept { return copied_; }

private:
    static void check_size(Eigen::Index s, const char* what) {
        if (s > Eigen::Index(1) << 30)
            dualrerank::detail::throw_input(std::string("eigen::request_buffer: too many ") + what + ": " + std::to_string(s));
    }
    std::vector<float> features_, context_;
    bool copied_ = false;
};

/// True when `features` can be viewed without a copy (row-major, contiguous, float).
template <class Derived>
bool is_zero_copy(const Eigen::DenseBase<Derived>& features) noexcept {
    return detail::contiguous_row_major(features) != nullptr;
}

/// A slate buffer (L candidate indices) as an Eigen column vector.
inline Eigen::Map<const Eigen::VectorXi> slate_map(const int* slate, int L) noexcept {
    return Eigen::Map<const Eigen::VectorXi>(slate, L);
}
/// Logits Z [L x N] (row-major, as serving::session::logits writes them) as an L x N matrix.
inline const_row_matrix_map logits_map(const float* Z, int L, int N) noexcept { return const_row_matrix_map(Z, L, N); }
/// Scores [K] (e.g. serving::proposals::scores) as an Eigen column vector.
inline Eigen::Map<const Eigen::VectorXf> scores_map(const float* scores, int K) noexcept {
    return Eigen::Map<const Eigen::VectorXf>(scores, K);
}

}  // namespace eigen
DUALRERANK_NAMESPACE_END
