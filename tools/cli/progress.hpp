// A progress bar with a rate and an ETA on stderr, for long work (training, distillation, RL,
// benchmarks). Shown only when stderr is a terminal or --progress is given (--no-progress turns it
// off), redrawn at most 10 times a second, so the cost per update is a clock read.
//
//   [train] 42% |########..........|  420/1000  loss 0.5123  38.1 it/s  ETA 0:15
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace dualrerank_cli {

/// Whether bars are drawn: forced on/off by the caller, else when stderr is a terminal.
inline bool progress_wanted(bool force_on, bool force_off) {
    if (force_off) return false;
    if (force_on) return true;
    return ::isatty(STDERR_FILENO) == 1;
}

class progress_bar {
public:
    progress_bar(std::string label, long total, bool enabled)
        : label_(std::move(label)), total_(total > 0 ? total : 1), enabled_(enabled), t0_(clock::now()), last_(t0_) {}
    ~progress_bar() { finish(); }
    progress_bar(const progress_bar&) = delete;
    progress_bar& operator=(const progress_bar&) = delete;

    /// `done` units of `total` finished; `extra` is shown after the counts (e.g. the loss).
    void update(long done, const std::string& extra = std::string()) {
        done_ = done;
        if (!enabled_ || finished_) return;
        const auto now = clock::now();
        if (done < total_ && now - last_ < std::chrono::milliseconds(100) && drawn_) return;
        last_ = now;
        draw(extra);
    }

    /// Draw the final state and end the line (idempotent).
    void finish(const std::string& extra = std::string()) {
        if (!enabled_ || finished_) return;
        if (!drawn_ || drawn_done_ != done_ || (!extra.empty() && extra != extra_)) draw(extra.empty() ? extra_ : extra);
        std::fputc('\n', stderr);
        std::fflush(stderr);
        finished_ = true;
    }

    double seconds() const { return std::chrono::duration<double>(clock::now() - t0_).count(); }

private:
    using clock = std::chrono::steady_clock;
    std::string label_;
    long total_;
    bool enabled_;
    clock::time_point t0_, last_;
    long done_ = 0, drawn_done_ = -1;
    bool drawn_ = false, finished_ = false;
    std::string extra_;

    static std::string clock_text(double s) {
        if (!(s >= 0) || s > 360000) return "--:--";
        const long t = static_cast<long>(s + 0.5);
        char b[32];
        if (t >= 3600)
            std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
        else
            std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
        return b;
    }

    void draw(const std::string& extra) {
        if (!extra.empty()) extra_ = extra;
        const double secs = seconds();
        const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
        const int width = 20;
        const int filled = static_cast<int>(frac * width);
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.append(static_cast<std::size_t>(width - filled), '.');
        const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
        const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1.0;
        std::fprintf(stderr, "\r[%s] %3d%% |%s| %ld/%ld  %s%s%.1f it/s  %s %s   ", label_.c_str(),
                     static_cast<int>(frac * 100.0), bar.c_str(), done_, total_, extra_.c_str(), extra_.empty() ? "" : "  ",
                     rate, done_ >= total_ ? "elapsed" : "ETA", clock_text(done_ >= total_ ? secs : eta).c_str());
        std::fflush(stderr);
        drawn_ = true;
        drawn_done_ = done_;
    }
};

}  // namespace dualrerank_cli
