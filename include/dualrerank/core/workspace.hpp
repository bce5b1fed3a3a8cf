// Per-thread scratch memory.
//
// A workspace is a bump arena of 64-byte aligned blocks. `reset()` starts a new call; if the
// previous call spilled into more than one block, the blocks are merged into one block of the
// peak size, so after one warm-up call of the largest shape the arena never allocates again.
// A workspace is owned by one thread; a model is shared read-only by all threads.
//
// Limits a server can plan for (docs/bad-input.md, WS-01):
//   set_budget(bytes)        the most bytes one call may use; an alloc beyond it throws
//                            input_error naming the budget before any memory is requested
//                            (0 = no budget, the default)
//   set_retain_limit(bytes)  high-water policy: reset() gives memory back when the workspace
//                            holds more than this (one outlier request does not pin gigabytes for
//                            the life of the thread); 0 = keep everything (the default, and what
//                            the zero-allocation guarantee after warm-up assumes)
//   shrink_to(bytes)         give memory back now, down to at most `bytes` of capacity
//   plan(bytes)              at the start of a call, one block of `bytes` (the inference entry
//                            points plan their max_workspace_bytes, model/memory.hpp, so a call
//                            holds at most its bound: no spill into a doubled second block)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include <string>

#include "../version.hpp"
#include "aligned.hpp"
#include "error.hpp"

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
        if (retain_ > 0 && capacity_bytes() > retain_) {
            shrink_to(retain_);
            return;
        }
        if (blocks_.size() > 1) {
            std::size_t total = 0;
            for (auto& b : blocks_) total += b.size;
            blocks_.clear();
            add_block(std::max(total, peak_));
        }
        used_ = 0;
        current_ = 0;
    }

    /// Give memory back now: afterwards capacity_bytes() <= bytes (rounded to 64). Everything
    /// handed out before is invalid; the next call starts afresh (and may grow again).
    void shrink_to(std::size_t bytes) {
        if (capacity_bytes() > bytes) {
            blocks_.clear();
            if (bytes >= default_alignment) add_block(bytes / default_alignment * default_alignment);
        }
        peak_ = std::min(peak_, capacity_bytes());
        used_ = 0;
        current_ = 0;
    }

    /// The most bytes one call may use (0: no budget). See the header comment.
    void set_budget(std::size_t bytes) noexcept { budget_ = bytes; }
    std::size_t budget() const noexcept { return budget_; }
    /// reset() shrinks the workspace to this many bytes when it holds more (0: never).
    void set_retain_limit(std::size_t bytes) noexcept { retain_ = bytes; }
    std::size_t retain_limit() const noexcept { return retain_; }

    /// Make sure at least `bytes` are available in one block (an allocation, if any, happens now).
    void reserve(std::size_t bytes) {
        if (blocks_.empty() || blocks_.front().size < bytes) {
            blocks_.clear();
            add_block(bytes);
            used_ = 0;
            current_ = 0;
        }
    }

    /// At the start of a call (nothing handed out since reset()): make sure the first block holds
    /// `bytes`, so a call that needs at most that many never spills into a second block (whose
    /// growth would hold up to twice what the call uses). The inference entry points call it with
    /// their max_workspace_bytes after checking it against the budget. Does nothing when memory
    /// has been handed out since reset(), when the first block is already large enough, or when
    /// `bytes` is above the retain limit (reset() would give the block back every call: such a
    /// workspace grows block by block instead).
    void plan(std::size_t bytes) {
        if (used_ != 0 || current_ != 0 || (!blocks_.empty() && blocks_.front().size >= bytes)) return;
        if (retain_ > 0 && bytes > retain_) return;
        blocks_.clear();
        add_block(bytes);
    }

    /// Uninitialized, 64-byte aligned array of n values of T.
    template <class T>
    T* alloc(std::size_t n) {
        if (n > (std::size_t(-1) - default_alignment) / sizeof(T))
            detail::throw_input("workspace: an allocation of " + std::to_string(n) + " values overflows");
        std::size_t bytes = round_up(n * sizeof(T));
        if (budget_ > 0) {
            std::size_t in_use = used_;
            for (std::size_t i = 0; i < current_; ++i) in_use += blocks_[i].size;
            if (bytes > budget_ || in_use > budget_ - bytes)
                detail::throw_input("workspace: this call needs more than the workspace budget of " + std::to_string(budget_) +
                                    " bytes (" + std::to_string(in_use) + " in use, " + std::to_string(bytes) +
                                    " more asked; workspace::set_budget)");
        }
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
    std::size_t budget_ = 0;
    std::size_t retain_ = 0;
};

DUALRERANK_NAMESPACE_END
