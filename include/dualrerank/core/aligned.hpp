// 64-byte aligned storage: parameter arenas, gradient arenas and workspaces all live in it, so
// SIMD loads of any tensor's first element are aligned and rows of width multiple of 16 are too.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#include "../version.hpp"

DUALRERANK_NAMESPACE_BEGIN

inline constexpr std::size_t default_alignment = 64;

template <class T, std::size_t Align = default_alignment>
struct aligned_allocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = aligned_allocator<U, Align>;
    };
    aligned_allocator() noexcept = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U, Align>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T) - Align) throw std::bad_alloc();
        std::size_t bytes = (n * sizeof(T) + Align - 1) / Align * Align;
        if (bytes == 0) bytes = Align;
        void* p = ::operator new(bytes, std::align_val_t(Align));
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Align)); }

    template <class U>
    bool operator==(const aligned_allocator<U, Align>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const aligned_allocator<U, Align>&) const noexcept { return false; }
};

template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

DUALRERANK_NAMESPACE_END
