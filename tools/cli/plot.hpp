// The training curve of `train` and `distill`: a CSV file and a PNG plot drawn here, with no
// library (an RGB image, zlib "stored" blocks, CRC-32 and Adler-32 by hand).
//
// The plot has two panels sharing the step axis: the training loss on top (blue), the validation
// metric below (orange), light grid lines at tenths of each panel's range, and a green vertical
// line at the best validation step. The numbers are in the CSV; the PNG is for a glance.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace dualrerank_cli {

struct curve_point {
    long step = 0;
    double train_loss = 0;
    double valid = 0;  ///< NaN when there is no validation set
    double seconds = 0;
};

class rgb_image {
public:
    rgb_image(int w, int h) : w_(w), h_(h), px_(std::size_t(w) * h * 3, 255) {}
    void set(int x, int y, std::uint32_t c) {
        if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
        std::uint8_t* p = &px_[(std::size_t(y) * w_ + x) * 3];
        p[0] = std::uint8_t(c >> 16);
        p[1] = std::uint8_t(c >> 8);
        p[2] = std::uint8_t(c);
    }
    void line(double x0, double y0, double x1, double y1, std::uint32_t c, int thick = 1) {
        const int steps = int(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
        for (int i = 0; i <= steps; ++i) {
            const double t = double(i) / steps;
            const int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
            for (int dx = 0; dx < thick; ++dx)
                for (int dy = 0; dy < thick; ++dy) set(x + dx, y + dy, c);
        }
    }
    /// PNG bytes: 8-bit RGB, filter 0 on every row, deflate "stored" blocks (no compression).
    std::string png() const {
        std::string raw;
        for (int y = 0; y < h_; ++y) {
            raw.push_back('\0');
            raw.append(reinterpret_cast<const char*>(&px_[std::size_t(y) * w_ * 3]), std::size_t(w_) * 3);
        }
        std::string z = "\x78\x01";
        for (std::size_t pos = 0; pos < raw.size() || pos == 0;) {
            const std::size_t len = std::min<std::size_t>(65535, raw.size() - pos);
            const bool last = pos + len >= raw.size();
            z.push_back(last ? '\x01' : '\x00');
            z.push_back(char(len & 0xff));
            z.push_back(char(len >> 8));
            z.push_back(char(~len & 0xff));
            z.push_back(char((~len >> 8) & 0xff));
            z.append(raw, pos, len);
            pos += len;
            if (last) break;
        }
        std::uint32_t a = 1, b = 0;
        for (unsigned char ch : raw) {
            a = (a + ch) % 65521;
            b = (b + a) % 65521;
        }
        put32(z, (b << 16) | a);
        std::string out = "\x89PNG\r\n\x1a\n";
        std::string ihdr;
        put32(ihdr, std::uint32_t(w_));
        put32(ihdr, std::uint32_t(h_));
        ihdr += std::string("\x08\x02\x00\x00\x00", 5);
        chunk(out, "IHDR", ihdr);
        chunk(out, "IDAT", z);
        chunk(out, "IEND", "");
        return out;
    }

private:
    static void put32(std::string& s, std::uint32_t v) {
        for (int i = 3; i >= 0; --i) s.push_back(char((v >> (8 * i)) & 0xff));
    }
    static std::uint32_t crc32(const std::string& s) {
        std::uint32_t c = 0xffffffffu;
        for (unsigned char ch : s) {
            c ^= ch;
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        }
        return ~c;
    }
    static void chunk(std::string& out, const char* type, const std::string& data) {
        put32(out, std::uint32_t(data.size()));
        const std::string td = std::string(type) + data;
        out += td;
        put32(out, crc32(td));
    }
    int w_, h_;
    std::vector<std::uint8_t> px_;
};

/// Write the curve as CSV (step,train_loss,valid,seconds) to `csv` and as a PNG plot to `png`
/// (either may be empty: not written). Returns false when a file could not be written.
inline bool write_curve(const std::vector<curve_point>& pts, long best_step, const std::string& csv, const std::string& png,
                        const std::string& valid_name) {
    bool ok = true;
    if (!csv.empty()) {
        std::ofstream f(csv, std::ios::binary | std::ios::trunc);
        f << "step,train_loss," << valid_name << ",seconds\n";
        char buf[160];
        for (const auto& p : pts) {
            std::snprintf(buf, sizeof buf, "%ld,%.6g,%.6g,%.3f\n", p.step, p.train_loss, p.valid, p.seconds);
            f << buf;
        }
        ok = ok && bool(f);
    }
    if (!png.empty() && !pts.empty()) {
        const int W = 640, H = 480, m = 30, gap = 20;
        rgb_image img(W, H);
        const int ph = (H - 2 * m - gap) / 2;
        const double x0 = double(pts.front().step), x1 = std::max(double(pts.back().step), x0 + 1);
        auto px = [&](double s) { return m + (s - x0) / (x1 - x0) * (W - 2 * m); };
        auto panel = [&](int top, auto get, std::uint32_t color) {
            double lo = 1e300, hi = -1e300;
            for (const auto& p : pts)
                if (std::isfinite(get(p))) {
                    lo = std::min(lo, get(p));
                    hi = std::max(hi, get(p));
                }
            if (lo > hi) return;
            if (hi - lo < 1e-12) {
                lo -= 0.5;
                hi += 0.5;
            }
            for (int k = 0; k <= 10; ++k) {
                const double y = top + ph - k * ph / 10.0;
                img.line(m, y, W - m, y, k == 0 || k == 10 ? 0x808080 : 0xe0e0e0);
            }
            img.line(m, top, m, top + ph, 0x808080);
            img.line(W - m, top, W - m, top + ph, 0x808080);
            auto py = [&](double v) { return top + ph - (v - lo) / (hi - lo) * ph; };
            bool have = false;
            double lx = 0, ly = 0;
            for (const auto& p : pts) {
                const double v = get(p);
                if (!std::isfinite(v)) continue;
                const double x = px(double(p.step)), y = py(v);
                if (have) img.line(lx, ly, x, y, color, 2);
                else img.line(x, y, x, y, color, 2);
                lx = x;
                ly = y;
                have = true;
            }
        };
        panel(m, [](const curve_point& p) { return p.train_loss; }, 0x1f77b4);
        panel(m + ph + gap, [](const curve_point& p) { return p.valid; }, 0xff7f0e);
        if (best_step > 0) img.line(px(double(best_step)), m, px(double(best_step)), H - m, 0x2ca02c);
        std::ofstream f(png, std::ios::binary | std::ios::trunc);
        const std::string bytes = img.png();
        f.write(bytes.data(), std::streamsize(bytes.size()));
        ok = ok && bool(f);
    }
    return ok;
}

}  // namespace dualrerank_cli
