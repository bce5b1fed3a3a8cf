// The built-in world's exploratory logs as impression logs (io/impression_log.hpp, docs/logs.md):
// what `export_world --logs-out` and `dualrerank export-logs` write, so that the oracle-free
// pipeline (docs/design.md section 10.1) runs from a file exactly as a user's logs would.
//
// One page per logged request: id = the world's request index, the observed features, context
// and upstream ranks (what a model sees; nothing hidden), the behaviour policy's slate with its
// exact log-propensity (Plackett-Luce over upstream scores), and the sampled per-slot feedback of
// the two objectives "click" and "long_view"; policy_version names the behaviour policy and
// timestamp is the page's position in the log (0, 1, 2, ...).
#pragma once

#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>

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

DUALRERANK_NAMESPACE_END
