// Each CPU kernel against a small scalar reference written here, and each backward against
// central finite differences of a scalar loss sum(w * out).
#define BOOST_TEST_MODULE kernels
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "kernels/cpu/adamw.hpp"
#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/crossentropy.hpp"
#include "kernels/cpu/dropout.hpp"
#include "kernels/cpu/embedding.hpp"
#include "kernels/cpu/gelu.hpp"
#include "kernels/cpu/grad_norm.hpp"
#include "kernels/cpu/half.hpp"
#include "kernels/cpu/layernorm.hpp"
#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/residual.hpp"

using namespace parallax::kernels;
using Vec = std::vector<float>;

namespace {
Vec random(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}
void check_close(const Vec& a, const Vec& b, double tol) {
  BOOST_TEST_REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  BOOST_TEST(worst <= tol);
}
// Central differences of loss(x) at a few coordinates against the analytic gradient.
void check_gradient(Vec& x, const Vec& grad, const std::function<double()>& loss, unsigned seed) {
  std::mt19937 rng(seed);
  const float eps = 1e-2f;
  for (int k = 0; k < 12; ++k) {
    const size_t i = rng() % x.size();
    const float keep = x[i];
    x[i] = keep + eps;
    const double up = loss();
    x[i] = keep - eps;
    const double down = loss();
    x[i] = keep;
    const double fd = (up - down) / (2 * eps);
    BOOST_TEST(std::fabs(fd - grad[i]) <= 2e-3 + 2e-2 * std::fabs(fd),
               "coordinate " << i << ": fd " << fd << " analytic " << grad[i]);
  }
}
// Scalar causal attention on fused QKV: softmax over j <= t of q_t . k_j / sqrt(hs), each
// probability times its dropout factor (the counters of kernels/kernels.hpp), then the weighted
// sum of the v_j. Counts the probabilities dropped.
Vec reference_attention(const Vec& qkv, int B, int T, int C, int NH, const Dropout& d, int* dropped = nullptr) {
  const int hs = C / NH;
  Vec out(static_cast<size_t>(B) * T * C);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < NH; ++h)
      for (int t = 0; t < T; ++t) {
        std::vector<double> s(t + 1);
        double max = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double qk = 0;
          for (int i = 0; i < hs; ++i)
            qk += qkv[(b * T + t) * 3 * C + h * hs + i] * qkv[(b * T + j) * 3 * C + C + h * hs + i];
          s[j] = qk / std::sqrt(hs);
          max = std::max(max, s[j]);
        }
        for (auto& v : s) sum += (v = std::exp(v - max));
        const std::uint64_t row = d.first + ((static_cast<std::uint64_t>(b) * d.heads + d.first_head + h) * T + t) * T;
        for (int j = 0; j <= t && d.active(); ++j) {
          const double keep = d.factor(row + j);
          if (dropped) *dropped += keep == 0;
          s[j] *= keep;
        }
        for (int i = 0; i < hs; ++i) {
          double o = 0;
          for (int j = 0; j <= t; ++j) o += s[j] / sum * qkv[(b * T + j) * 3 * C + 2 * C + h * hs + i];
          out[(b * T + t) * C + h * hs + i] = static_cast<float>(o);
        }
      }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(matmul_matches_scalar_reference_and_finite_differences) {
  const int N = 5, C = 7, OC = 3;
  Vec inp = random(N * C, 1), w = random(OC * C, 2), b = random(OC, 3), out(N * OC);
  matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  Vec ref(N * OC);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OC; ++o) {
      double s = b[o];
      for (int c = 0; c < C; ++c) s += static_cast<double>(inp[n * C + c]) * w[o * C + c];
      ref[n * OC + o] = static_cast<float>(s);
    }
  check_close(out, ref, 1e-5);
  const Vec dout = random(N * OC, 4);
  Vec dinp(N * C), dw(OC * C), db(OC);
  matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  auto loss = [&] {
    Vec o(N * OC);
    matmul_forward(o.data(), inp.data(), w.data(), b.data(), N, C, OC);
    return dot(o, dout);
  };
  check_gradient(inp, dinp, loss, 5);
  check_gradient(w, dw, loss, 6);
  check_gradient(b, db, loss, 7);
}

BOOST_AUTO_TEST_CASE(layernorm_matches_reference_and_finite_differences) {
  const int N = 4, C = 16;
  Vec x = random(N * C, 1, 2.0f), w = random(C, 2), b = random(C, 3), out(N * C), mean(N), rstd(N);
  layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
  for (int n = 0; n < N; ++n) {
    double m = 0, v = 0;
    for (int c = 0; c < C; ++c) m += x[n * C + c];
    m /= C;
    for (int c = 0; c < C; ++c) v += (x[n * C + c] - m) * (x[n * C + c] - m);
    v /= C;
    for (int c = 0; c < C; ++c)
      BOOST_TEST(std::fabs(out[n * C + c] - ((x[n * C + c] - m) / std::sqrt(v + 1e-5) * w[c] + b[c])) < 1e-5);
  }
  const Vec dout = random(N * C, 4);
  Vec dx(N * C), dw(C), db(C);
  layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
  auto loss = [&] {
    Vec o(N * C), m(N), r(N);
    layernorm_forward(o.data(), m.data(), r.data(), x.data(), w.data(), b.data(), N, C);
    return dot(o, dout);
  };
  check_gradient(x, dx, loss, 5);
  check_gradient(w, dw, loss, 6);
  check_gradient(b, db, loss, 7);
}

BOOST_AUTO_TEST_CASE(gelu_tanh_form) {
  Vec x = random(64, 1, 2.0f), out(64);
  gelu_forward(out.data(), x.data(), 64);
  for (int i = 0; i < 64; ++i) {
    const double v = x[i];
    BOOST_TEST(std::fabs(out[i] - 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))) < 1e-6);
  }
  const Vec dout = random(64, 2);
  Vec dx(64);
  gelu_backward(dx.data(), x.data(), dout.data(), 64);
  check_gradient(
      x, dx,
      [&] {
        Vec o(64);
        gelu_forward(o.data(), x.data(), 64);
        return dot(o, dout);
      },
      3);
}

BOOST_AUTO_TEST_CASE(causal_attention_matches_reference_and_finite_differences) {
  const int B = 2, T = 5, NH = 2, C = 8;
  Vec qkv = random(B * T * 3 * C, 1), out(B * T * C), lse(B * NH * T), scratch(2 * T * T);
  attention_forward(out.data(), lse.data(), nullptr, qkv.data(), scratch.data(), B, T, C, NH);
  check_close(out, reference_attention(qkv, B, T, C, NH, {}), 1e-5);
  const Vec dout = random(B * T * C, 2);
  Vec dqkv(qkv.size());
  attention_backward(dqkv.data(), dout.data(), out.data(), qkv.data(), lse.data(), nullptr, scratch.data(), B, T, C,
                     NH);
  check_gradient(
      qkv, dqkv,
      [&] {
        Vec o(B * T * C), l(B * NH * T), s(2 * T * T);
        attention_forward(o.data(), l.data(), nullptr, qkv.data(), s.data(), B, T, C, NH);
        return dot(o, dout);
      },
      3);
  // Keeping the probabilities instead of recomputing them changes no bit, forward or backward.
  Vec kept_out(out.size()), kept_lse(lse.size()), probs(B * NH * T * T), kept_dqkv(qkv.size());
  attention_forward(kept_out.data(), kept_lse.data(), probs.data(), qkv.data(), scratch.data(), B, T, C, NH);
  attention_backward(kept_dqkv.data(), dout.data(), kept_out.data(), qkv.data(), kept_lse.data(), probs.data(),
                     scratch.data(), B, T, C, NH);
  BOOST_TEST(kept_out == out, boost::test_tools::per_element());
  BOOST_TEST(kept_dqkv == dqkv, boost::test_tools::per_element());
  BOOST_TEST(probs[T + 0] + probs[T + 1] == 1.0f);  // row 1 of head 0: two probabilities
  BOOST_TEST(probs[T + 2] == 0.0f);                 // masked
}

BOOST_AUTO_TEST_CASE(dropout_drops_p_and_scales_the_rest_the_same_on_any_slice) {
  const long n = 1 << 20;
  const Dropout d{.p = 0.1f, .stream = 12345, .first = 777};
  Vec x(n, 1.0f);
  dropout(x.data(), n, d);
  long dropped = 0;
  for (float v : x) {
    dropped += v == 0.0f;
    BOOST_TEST_REQUIRE((v == 0.0f || v == 1.0f / 0.9f));
  }
  // Binomial(n, 0.1): five standard deviations are 0.0015 of n.
  BOOST_TEST(std::fabs(static_cast<double>(dropped) / n - 0.1) < 5 * std::sqrt(0.1 * 0.9 / n));
  // A slice from element 300 with its counters from first + 300 draws the whole's mask there.
  Vec slice(1000, 1.0f);
  Dropout part = d;
  part.first += 300;
  dropout(slice.data(), 1000, part);
  BOOST_TEST(slice == Vec(x.begin() + 300, x.begin() + 1300), boost::test_tools::per_element());
  // Another stream is another mask: the two agree where both keep or both drop, 0.82 of the time.
  Dropout other = d;
  other.stream = 54321;
  Vec y(n, 1.0f);
  dropout(y.data(), n, other);
  long same = 0;
  for (long i = 0; i < n; ++i) same += x[i] == y[i];
  BOOST_TEST(std::fabs(static_cast<double>(same) / n - 0.82) < 0.005);
}

// Attention on heads [first_head, first_head + NH) of a model with 2*NH heads (a TP rank's part)
// with dropout on the probabilities, against a scalar reference drawing the same counters.
BOOST_AUTO_TEST_CASE(attention_dropout_matches_reference_and_finite_differences) {
  const int B = 2, T = 6, NH = 2, C = 8;
  const Dropout d{.p = 0.3f, .stream = 99, .first = 3L * 2 * NH * T * T, .first_head = NH, .heads = 2 * NH};
  Vec qkv = random(B * T * 3 * C, 11), out(B * T * C), lse(B * NH * T), scratch(2 * T * T);
  attention_forward(out.data(), lse.data(), nullptr, qkv.data(), scratch.data(), B, T, C, NH, d);
  int dropped = 0;
  check_close(out, reference_attention(qkv, B, T, C, NH, d, &dropped), 1e-5);
  BOOST_TEST(dropped > 0);
  const Vec dout = random(B * T * C, 12);
  Vec dqkv(qkv.size());
  attention_backward(dqkv.data(), dout.data(), out.data(), qkv.data(), lse.data(), nullptr, scratch.data(), B, T, C, NH,
                     d);
  check_gradient(
      qkv, dqkv,
      [&] {
        Vec o(B * T * C), l(B * NH * T), s(2 * T * T);
        attention_forward(o.data(), l.data(), nullptr, qkv.data(), s.data(), B, T, C, NH, d);
        return dot(o, dout);
      },
      13);
  // Kept probabilities (before dropout) give the same bits as recomputed ones.
  Vec kept_out(out.size()), kept_lse(lse.size()), probs(B * NH * T * T), kept_dqkv(qkv.size());
  attention_forward(kept_out.data(), kept_lse.data(), probs.data(), qkv.data(), scratch.data(), B, T, C, NH, d);
  attention_backward(kept_dqkv.data(), dout.data(), kept_out.data(), qkv.data(), kept_lse.data(), probs.data(),
                     scratch.data(), B, T, C, NH, d);
  BOOST_TEST(kept_out == out, boost::test_tools::per_element());
  BOOST_TEST(kept_dqkv == dqkv, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cross_entropy_ignores_padded_vocabulary) {
  const int N = 3, V = 5, Vp = 8;
  Vec logits = random(N * Vp, 1), losses(N);
  const std::vector<int> targets{0, 4, 2};
  Vec probs = logits;
  crossentropy_forward(losses.data(), probs.data(), targets.data(), N, V, Vp);
  for (int n = 0; n < N; ++n) {
    double z = 0;
    for (int i = 0; i < V; ++i) z += std::exp(static_cast<double>(logits[n * Vp + i]));
    BOOST_TEST(std::fabs(losses[n] - (std::log(z) - logits[n * Vp + targets[n]])) < 1e-5);
  }
  // Padded logits change nothing and get no gradient.
  Vec other = logits;
  for (int n = 0; n < N; ++n)
    for (int i = V; i < Vp; ++i) other[n * Vp + i] = 100.0f;
  Vec other_losses(N);
  crossentropy_forward(other_losses.data(), other.data(), targets.data(), N, V, Vp);
  check_close(losses, other_losses, 0.0);
  Vec dlogits(N * Vp);
  crossentropy_backward(dlogits.data(), probs.data(), targets.data(), 1.0f / N, 0, N, Vp, V);
  for (int n = 0; n < N; ++n)
    for (int i = V; i < Vp; ++i) BOOST_TEST(dlogits[n * Vp + i] == 0.0f);
  check_gradient(
      logits, dlogits,
      [&] {
        Vec p = logits, l(N);
        crossentropy_forward(l.data(), p.data(), targets.data(), N, V, Vp);
        return (static_cast<double>(l[0]) + l[1] + l[2]) / N;
      },
      2);
}

// Two vocabulary slices [0, 4) and [4, 8) (3 of them real), combined by max and sum as the
// all-reduces do, give the whole vocabulary's losses and gradients.
BOOST_AUTO_TEST_CASE(cross_entropy_split_by_vocabulary) {
  const int N = 3, V = 7, Vp = 8, Vl = 4;
  const Vec logits = random(N * Vp, 8);
  const std::vector<int> targets{1, 6, 4};
  Vec probs = logits, losses(N);
  crossentropy_forward(losses.data(), probs.data(), targets.data(), N, V, Vp);
  Vec slice[2] = {Vec(N * Vl), Vec(N * Vl)}, max[2] = {Vec(N), Vec(N)}, sum[2] = {Vec(N), Vec(N)};
  for (int r = 0; r < 2; ++r)
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < Vl; ++i) slice[r][n * Vl + i] = logits[n * Vp + r * Vl + i];
  const int valid[2] = {4, 3};
  for (int r = 0; r < 2; ++r) crossentropy_row_max(max[r].data(), slice[r].data(), N, Vl, valid[r]);
  Vec gmax(N), gsum(N), total(N, 0.0f);
  for (int n = 0; n < N; ++n) gmax[n] = std::max(max[0][n], max[1][n]);
  for (int r = 0; r < 2; ++r) crossentropy_exp_sum(sum[r].data(), slice[r].data(), gmax.data(), N, Vl, valid[r]);
  for (int n = 0; n < N; ++n) gsum[n] = sum[0][n] + sum[1][n];
  for (int r = 0; r < 2; ++r) {
    Vec part(N), d(N * Vl), dwhole(N * Vp);
    crossentropy_normalize(part.data(), slice[r].data(), gsum.data(), targets.data(), r * Vl, N, Vl, valid[r]);
    for (int n = 0; n < N; ++n) total[n] += part[n];
    crossentropy_backward(d.data(), slice[r].data(), targets.data(), 0.5f, r * Vl, N, Vl, valid[r]);
    crossentropy_backward(dwhole.data(), probs.data(), targets.data(), 0.5f, 0, N, Vp, V);
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < Vl; ++i) BOOST_TEST(std::fabs(d[n * Vl + i] - dwhole[n * Vp + r * Vl + i]) < 1e-6);
  }
  check_close(total, losses, 1e-6);
}

BOOST_AUTO_TEST_CASE(embedding_and_residual) {
  const int B = 2, T = 3, C = 4, V = 6;
  Vec wte = random(V * C, 1), wpe = random(T * C, 2), out(B * T * C);
  const std::vector<int> tokens{5, 0, 2, 2, 1, 5};
  embedding_forward(out.data(), tokens.data(), wte.data(), 0, V, wpe.data(), B, T, C);
  for (int i = 0; i < B * T; ++i)
    for (int c = 0; c < C; ++c) BOOST_TEST(out[i * C + c] == wte[tokens[i] * C + c] + wpe[(i % T) * C + c]);
  const Vec dout = random(B * T * C, 3);
  Vec dwte(V * C), dwpe(T * C);
  embedding_backward(dwte.data(), 0, V, dwpe.data(), dout.data(), tokens.data(), B, T, C);
  auto loss = [&] {
    Vec o(B * T * C);
    embedding_forward(o.data(), tokens.data(), wte.data(), 0, V, wpe.data(), B, T, C);
    return dot(o, dout);
  };
  check_gradient(wte, dwte, loss, 4);
  check_gradient(wpe, dwpe, loss, 5);
  // Split by vocabulary: rows [0, 2) and [2, 6), summed, then positions added.
  Vec lo(B * T * C), hi(B * T * C), dlo(2 * C), dhi(4 * C);
  embedding_forward(lo.data(), tokens.data(), wte.data(), 0, 2, nullptr, B, T, C);
  embedding_forward(hi.data(), tokens.data(), wte.data() + 2 * C, 2, 4, nullptr, B, T, C);
  for (int i = 0; i < B * T * C; ++i) lo[i] += hi[i];
  Vec rows(lo.begin() + 2 * C, lo.begin() + 6 * C);  // tokens 2..5 alone (a rank's rows under SP)
  add_positions(lo.data(), wpe.data(), 0, B * T, T, C);
  check_close(lo, out, 0.0);
  add_positions(rows.data(), wpe.data(), 2, 4, T, C);
  check_close(rows, Vec(out.begin() + 2 * C, out.begin() + 6 * C), 0.0);
  embedding_backward(dlo.data(), 0, 2, nullptr, dout.data(), tokens.data(), B, T, C);
  embedding_backward(dhi.data(), 2, 4, nullptr, dout.data(), tokens.data(), B, T, C);
  for (int i = 0; i < 2 * C; ++i) BOOST_TEST(dlo[i] == dwte[i]);
  for (int i = 0; i < 4 * C; ++i) BOOST_TEST(dhi[i] == dwte[2 * C + i]);
  Vec a = random(8, 6), b = random(8, 7), sum(8), da(8), db(8);
  residual_forward(sum.data(), a.data(), b.data(), 8);
  for (int i = 0; i < 8; ++i) BOOST_TEST(sum[i] == a[i] + b[i]);
  residual_backward(da.data(), db.data(), dout.data(), 8);
  for (int i = 0; i < 8; ++i) BOOST_TEST((da[i] == dout[i] && db[i] == dout[i]));
}

BOOST_AUTO_TEST_CASE(adamw_matches_torch_formula) {
  // torch.optim.AdamW, one element, two steps, by hand.
  float p = 1.0f, m = 0, v = 0;
  const float lr = 0.1f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
  double P = 1.0, M = 0, Vv = 0;
  for (int step = 1; step <= 2; ++step) {
    const float g = step == 1 ? 0.5f : -0.25f;
    adamw_update(&p, &g, &m, &v, 1, step, lr, b1, b2, eps, wd);
    P *= 1 - lr * wd;
    M = b1 * M + (1 - b1) * g;
    Vv = b2 * Vv + (1 - b2) * g * g;
    P -= lr / (1 - std::pow(b1, step)) * M / (std::sqrt(Vv) / std::sqrt(1 - std::pow(b2, step)) + eps);
    BOOST_TEST(std::fabs(p - P) < 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(gradient_norm) {
  Vec g{3.0f, 4.0f};
  BOOST_TEST(std::sqrt(sum_of_squares(g.data(), 2)) == 5.0);
  scale(g.data(), 2, 0.5f);
  BOOST_TEST((g[0] == 1.5f && g[1] == 2.0f));
}

// 16-bit casts, hand-computed: ties go to the even mantissa, fp16 overflows to infinity past
// 65504 (65520 is the tie with 65536) and keeps subnormals; every 16-bit value survives the
// round trip; unscaling finds an inf.
BOOST_AUTO_TEST_CASE(sixteen_bit_casts_round_to_nearest_even) {
  BOOST_TEST(to_bf16(1.0f) == 0x3f80);
  BOOST_TEST(to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);      // halfway to 1 + 2^-7: even is 1
  BOOST_TEST(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // halfway to 1 + 2^-6: even is above
  BOOST_TEST(to_bf16(-2.5f) == 0xc020);
  BOOST_TEST(std::isinf(from_bf16(to_bf16(3.4028235e38f))));
  BOOST_TEST(std::isnan(from_bf16(to_bf16(std::nanf("")))));
  BOOST_TEST(to_fp16(1.0f) == 0x3c00);
  BOOST_TEST(to_fp16(65504.0f) == 0x7bff);
  BOOST_TEST(to_fp16(65520.0f) == 0x7c00);
  BOOST_TEST(to_fp16(1e-7f) == 0x0002);  // 1e-7 / 2^-24 = 1.68: the second subnormal
  BOOST_TEST(to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  int bf16_kept = 0, fp16_kept = 0;
  for (int h = 0; h < 65536; ++h) {
    const auto u = static_cast<std::uint16_t>(h);
    if (std::isnan(from_bf16(u)) || to_bf16(from_bf16(u)) == u) ++bf16_kept;
    if (std::isnan(from_fp16(u)) || to_fp16(from_fp16(u)) == u) ++fp16_kept;
  }
  BOOST_TEST(bf16_kept == 65536);
  BOOST_TEST(fp16_kept == 65536);
  Vec x = {1.0f, 3.0f, 1.0f + std::ldexp(1.0f, -9)};
  round_to_16bit(x.data(), 3, parallax::Precision::bf16);
  BOOST_TEST((x == Vec{1.0f, 3.0f, 1.0f}), boost::test_tools::per_element());
  Vec g = {2.0f, 4.0f};
  BOOST_TEST(unscale_and_check(g.data(), 2, 0.5f));
  BOOST_TEST((g == Vec{1.0f, 2.0f}), boost::test_tools::per_element());
  Vec bad = {2.0f, std::numeric_limits<float>::infinity()};
  BOOST_TEST(!unscale_and_check(bad.data(), 2, 0.5f));
}
