// Flat parameter arenas with one shared tensor table (llm.c's ParameterTensors, in C++).
//
// A model registers its tensors once (name = the PyTorch reference's state_dict name, shape,
// whether weight decay applies); every tensor gets an offset into one flat array. Parameters,
// gradients and the AdamW moments are arrays of the same length with the same table, so
// zero_grad, clipping and the optimizer are single loops, and a layer's gradient lives at the
// same offset in the gradient arena as its weight in the parameter arena.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../version.hpp"
#include "aligned.hpp"
#include "error.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// How a tensor is initialised for training from scratch.
struct tensor_init {
    enum kind_t { zeros, ones, uniform, normal } kind = zeros;
    double scale = 0;  ///< uniform: U(-scale, scale); normal: N(0, scale^2)
    static tensor_init zero() noexcept { return {zeros, 0}; }
    static tensor_init one() noexcept { return {ones, 0}; }
    static tensor_init fan_in(std::size_t fan) noexcept { return {uniform, 1.0 / std::sqrt(double(fan ? fan : 1))}; }
    static tensor_init gaussian(double sd) noexcept { return {normal, sd}; }
};

struct tensor_spec {
    std::string name;
    std::vector<std::size_t> shape;
    std::size_t offset = 0;  ///< in elements, into the arena
    std::size_t size = 0;    ///< product of shape
    bool decay = false;      ///< AdamW weight decay applies (matrices yes; norms, biases, embeddings of slots no)
    tensor_init init;        ///< initialisation for training from scratch
};

class tensor_table {
public:
    /// Register a tensor; returns its offset. Offsets are aligned to 16 elements.
    std::size_t add(std::string name, std::vector<std::size_t> shape, bool decay, tensor_init init = {}) {
        if (index_.count(name)) detail::throw_input("tensor registered twice: " + name);
        tensor_spec t;
        t.name = std::move(name);
        t.size = 1;
        for (auto s : shape) t.size *= s;
        t.shape = std::move(shape);
        t.decay = decay;
        t.init = init;
        t.offset = total_;
        total_ += (t.size + 15) / 16 * 16;
        index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
        return tensors_.back().offset;
    }
    const tensor_spec* find(const std::string& name) const noexcept {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    const std::vector<tensor_spec>& tensors() const noexcept { return tensors_; }
    /// Arena length in elements (including alignment padding, which stays zero).
    std::size_t total() const noexcept { return total_; }
    /// Number of real parameters (without padding).
    std::size_t parameter_count() const noexcept {
        std::size_t n = 0;
        for (auto& t : tensors_) n += t.size;
        return n;
    }
    bool same_layout(const tensor_table& o) const noexcept {
        if (tensors_.size() != o.tensors_.size() || total_ != o.total_) return false;
        for (std::size_t i = 0; i < tensors_.size(); ++i)
            if (tensors_[i].name != o.tensors_[i].name || tensors_[i].shape != o.tensors_[i].shape) return false;
        return true;
    }

private:
    std::vector<tensor_spec> tensors_;
    std::unordered_map<std::string, std::size_t> index_;
    std::size_t total_ = 0;
};

/// Fill an arena according to each tensor's init rule (padding stays zero).
template <class T, class Rng>
void initialize(const tensor_table& table, T* values, Rng& gen) {
    for (const auto& t : table.tensors()) {
        T* p = values + t.offset;
        for (std::size_t i = 0; i < t.size; ++i) {
            switch (t.init.kind) {
                case tensor_init::zeros: p[i] = T(0); break;
                case tensor_init::ones: p[i] = T(1); break;
                case tensor_init::uniform: p[i] = T(gen.uniform(-t.init.scale, t.init.scale)); break;
                case tensor_init::normal: p[i] = T(gen.normal(0.0, t.init.scale)); break;
            }
        }
    }
}

/// Sentinel offset for an absent tensor (e.g. a linear layer without bias).
inline constexpr std::size_t no_tensor = static_cast<std::size_t>(-1);

DUALRERANK_NAMESPACE_END
