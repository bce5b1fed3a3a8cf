// Central finite-difference gradient checking in double, shared by the gradient tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace grad_check {

struct result {
    /// max over checked entries of |a - n| / (|a| + |n| + abs_floor): relative, except for
    /// gradients that are zero analytically (e.g. the key bias of softmax attention), where the
    /// central difference's rounding noise (~1e-10 here) is judged against abs_floor.
    double max_rel = 0;
    double max_abs = 0;   ///< max |a - n|
    double scale = 0;     ///< max |a| over the checked entries
    /// max |a - n| / max |a|: the error relative to the tensor's gradient scale (robust to
    /// entries whose gradient is ~0, where rounding noise of the difference dominates).
    double scaled() const { return max_abs / std::max(scale, 1e-12); }
    std::size_t checked = 0;
    std::string worst;
};

/// f() computes the scalar loss from the current contents of `x`; `analytic` holds d f / d x.
/// Checks every entry (or every `stride`-th) with step h.
inline result check(double* x, std::size_t n, const std::vector<double>& analytic, const std::function<double()>& f,
                    double h = 1e-6, std::size_t stride = 1, const std::string& label = "", double abs_floor = 1e-6) {
    result r;
    for (std::size_t i = 0; i < n; i += stride) {
        const double old = x[i];
        x[i] = old + h;
        const double fp = f();
        x[i] = old - h;
        const double fm = f();
        x[i] = old;
        const double num = (fp - fm) / (2 * h);
        const double a = analytic[i];
        const double abs = std::fabs(a - num);
        const double rel = abs / (std::fabs(a) + std::fabs(num) + abs_floor);
        if (rel > r.max_rel) {
            r.max_rel = rel;
            r.worst = label + "[" + std::to_string(i) + "] analytic " + std::to_string(a) + " numeric " + std::to_string(num);
        }
        r.max_abs = std::max(r.max_abs, abs);
        r.scale = std::max(r.scale, std::fabs(a));
        ++r.checked;
    }
    return r;
}

}  // namespace grad_check
