// The built-in world's exploratory logs as impression logs (io/impression_log.hpp, docs/logs.md):
// what `export_world --logs-out` and `dualrerank export-logs` write, so that the oracle-free
// pipeline (docs/design.md section 10.1) runs from a file exactly as a user's logs would.
//
// One page per logged request: id = the world's request index, the observed features, context
// and upstream ranks (what a model sees; nothing hidden), the behaviour policy's slate with its
// exact log-propensity (Plackett-Luce over upstream scores), and the sampled per-slot feedback of
// the two objectives "click" and "long_view"; policy_version names the behaviour policy and
// timestamp is the page's position in the log (0, 1, 2, ...).
//
// write_letor_query writes a request as LETOR lines with its context as the columns after the
// item features (what `export_world --letor` writes; a world-trained model reads them back).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "../io/impression_log.hpp"
#include "policies.hpp"
#include "stream.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// The name the world's behaviour policy is logged under (policy_version).
inline std::string behaviour_policy_version(const behaviour_policy& b) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "plackett-luce-upstream-t%g", b.temperature);
    return buf;
}

namespace detail {

inline io::impression_page impression_of(const sim_request& r, const logged_page& page, const std::string& policy_version,
                                         std::int64_t position) {
    io::impression_page p;
    p.id = io::json(page.request_index);
    p.candidates = r.observed;
    p.shown = page.shown;
    p.has_propensity = true;
    p.log_propensity = page.log_propensity;
    p.objectives = {"click", "long_view"};
    const std::size_t L = page.shown.size();
    p.feedback.resize(2 * L);
    for (std::size_t t = 0; t < L; ++t) {
        p.feedback[t] = page.feedback.clicks[t];
        p.feedback[L + t] = page.feedback.long_views[t];
    }
    if (position >= 0) p.timestamp = io::json(position);
    if (!policy_version.empty()) p.policy_version = io::json(policy_version);
    return p;
}

}  // namespace detail

/// One logged page of the world as an impression page (the request is regenerated from its
/// index); `position` becomes the timestamp (-1: none), `policy_version` is written when not empty.
inline io::impression_page to_impression_page(const world& w, const logged_page& page, sim_request& scratch,
                                              const std::string& policy_version = {}, std::int64_t position = -1) {
    w.make_request(page.request_index, scratch);
    w.check_slate(scratch, page.shown);
    return detail::impression_of(scratch, page, policy_version, position);
}
inline io::impression_page to_impression_page(const world& w, const logged_page& page) {
    sim_request scratch;
    return to_impression_page(w, page, scratch);
}

/// Write `count` pages of requests first .. first + count - 1, shown by `policy` under conditions
/// `c`: the same pages as generate_logs(w, first, count, policy, seed, c), streamed (one request in
/// memory at a time). Returns the pages written; a failed write throws format_error.
inline std::size_t write_world_logs(const world& w, std::uint64_t first, std::size_t count, const behaviour_policy& policy,
                                    std::uint64_t seed, std::ostream& out, const conditions& c = {}) {
    io::impression_log_writer writer(out);
    const std::string version = behaviour_policy_version(policy);
    rng g(seed);
    sim_request r;
    logged_page page;
    for (std::size_t i = 0; i < count; ++i) {
        page.request_index = first + i;
        w.make_request(page.request_index, r);
        page.shown = policy.sample(w, r, g, &page.log_propensity);  // the draws of generate_logs, in order
        w.sample_feedback(r, page.shown, g, c, page.feedback);
        writer.write(detail::impression_of(r, page, version, static_cast<std::int64_t>(i)));
    }
    out.flush();
    if (!out) ::dualrerank::detail::throw_format("write_world_logs: write failed");
    return writer.written();
}

/// One query as LETOR lines (1-based indices): per document `round(grades[j])`, `qid:<qid>`, the
/// F item features at indices 1..F and then the request's Fc context features at F+1..F+Fc, the
/// same on every document (LETOR's query-level features). A model with context features reads
/// those columns back as its context (`dualrerank rerank` / `eval` / `distill`, docs/cli.md
/// "LETOR input"), so a world-trained model reranks the world's LETOR export. Zeros are left out;
/// values are written with 9 significant digits (floats exactly). Upstream ranks are not written
/// (LETOR has no field for them; the world's features carry rank / (N - 1) in column 2).
inline void write_letor_query(std::ostream& out, const request<float>& r, const std::vector<float>& grades, std::uint64_t qid) {
    if (grades.size() != std::size_t(r.n) || r.features.size() != std::size_t(r.n) * std::size_t(r.f))
        ::dualrerank::detail::throw_input("write_letor_query: " + std::to_string(grades.size()) + " grades and " +
                                          std::to_string(r.features.size()) + " feature values for " + std::to_string(r.n) +
                                          " documents of " + std::to_string(r.f) + " features");
    char buf[64];
    std::string ctx;  // the context columns, the same text on every line
    for (std::size_t k = 0; k < r.context.size(); ++k) {
        if (r.context[k] == 0.0f) continue;
        std::snprintf(buf, sizeof buf, " %zu:%.9g", std::size_t(r.f) + k + 1, double(r.context[k]));
        ctx += buf;
    }
    for (int j = 0; j < r.n; ++j) {
        out << std::lround(grades[std::size_t(j)]) << " qid:" << qid;
        for (int k = 0; k < r.f; ++k) {
            const float x = r.features[std::size_t(j) * std::size_t(r.f) + std::size_t(k)];
            if (x == 0.0f) continue;
            std::snprintf(buf, sizeof buf, " %d:%.9g", k + 1, double(x));
            out << buf;
        }
        out << ctx << '\n';
    }
}

DUALRERANK_NAMESPACE_END
