// Per-thread scratch memory.
//
// A workspace is a bump arena of 64-byte aligned blocks. `reset()` starts a new call; if the
// previous call spilled into more than one block, the blocks are merged into one block of the
// peak size, so after one warm-up call of the largest shape the arena never allocates again.
// A workspace is owned by one thread; a model is shared read-only by all threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "../version.hpp"
#include "aligned.hpp"

DUALRERANK_NAMESPACE_BEGIN

class workspace {
public:
    workspace() = default;
    explicit workspace(std::size_t initial_bytes) { reserve(initial_bytes); }
    workspace(const workspace&) = delete;
    workspace& operator=(const workspace&) = delete;
    workspace(workspace&&) noexcept = default;
    workspace& operator=(workspace&&) noexcept = default;

    /// Start a new call: everything handed out before is invalid after this.
    void reset() {
        if (blocks_.size() > 1) {
            std::size_t total = 0;
            for (auto& b : blocks_) total += b.size;
            blocks_.clear();
            add_block(std::max(total, peak_));
        }
        used_ = 0;
        current_ = 0;
    }

    /// Make sure at least `bytes` are available in one block (an allocation, if any, happens now).
    void reserve(std::size_t bytes) {
        if (blocks_.empty() || blocks_.front().size < bytes) {
            blocks_.clear();
            add_block(bytes);
            used_ = 0;
            current_ = 0;
        }
    }

    /// Uninitialized, 64-byte aligned array of n values of T.
    template <class T>
    T* alloc(std::size_t n) {
        std::size_t bytes = round_up(n * sizeof(T));
        if (blocks_.empty()) add_block(std::max<std::size_t>(bytes, 1 << 16));
        while (used_ + bytes > blocks_[current_].size) {
            if (current_ + 1 == blocks_.size()) add_block(std::max(bytes, blocks_[current_].size));
            ++current_;
            used_ = 0;
        }
        T* p = reinterpret_cast<T*>(blocks_[current_].data.get() + used_);
        used_ += bytes;
        std::size_t in_use = used_;
        for (std::size_t i = 0; i < current_; ++i) in_use += blocks_[i].size;
        peak_ = std::max(peak_, in_use);
        return p;
    }

    /// Zero-filled array.
    template <class T>
    T* alloc_zero(std::size_t n) {
        T* p = alloc<T>(n);
        std::fill(p, p + n, T(0));
        return p;
    }

    /// Bytes held (capacity), and the largest amount used by one call.
    std::size_t capacity_bytes() const noexcept {
        std::size_t total = 0;
        for (auto& b : blocks_) total += b.size;
        return total;
    }
    std::size_t peak_bytes() const noexcept { return peak_; }
    /// How many times this workspace asked the system for memory (for the zero-allocation tests).
    std::size_t block_allocations() const noexcept { return allocations_; }

private:
    struct deleter {
        void operator()(unsigned char* p) const noexcept { ::operator delete(p, std::align_val_t(default_alignment)); }
    };
    struct block {
        std::unique_ptr<unsigned char, deleter> data;
        std::size_t size = 0;
    };
    static std::size_t round_up(std::size_t b) { return (b + default_alignment - 1) / default_alignment * default_alignment; }
    void add_block(std::size_t bytes) {
        bytes = round_up(std::max<std::size_t>(bytes, default_alignment));
        block b;
        b.data.reset(static_cast<unsigned char*>(::operator new(bytes, std::align_val_t(default_alignment))));
        b.size = bytes;
        blocks_.reserve(8);
        blocks_.push_back(std::move(b));
        ++allocations_;
    }

    std::vector<block> blocks_;
    std::size_t current_ = 0;
    std::size_t used_ = 0;
    std::size_t peak_ = 0;
    std::size_t allocations_ = 0;
};

DUALRERANK_NAMESPACE_END
