// One KAN layer applied to a derivative jet, fused, on the CPU (see kanpde/model/fused.py).
//
// Edge i -> o of the layer is phi_io(x) = w_base[i,o] silu(x) + sum_m table[i,m,o] B_m(x), the
// B-splines' end polynomials continued beyond the grid range.
// For every point n and input i, with x = h[0, n, i], the kernel forms the edge functions
// and their x-derivatives as vectors over the outputs,
//
//   S_q[o] = d^q/dx^q phi_io(x),   q = 0, 1, 2 (and 3 in the backward),
//
// from the k+1 non-zero B-splines (Horner on the per-interval Taylor table) and silu, and
// applies the chain rule channel by channel:
//
//   value               y_0   += S_0
//   tangent t           y_t   += h_t S_1
//   second pair (a, b)  y_ab  += h_ab S_1 + h_a h_b S_2
//   Laplacian           y_lap += (lap h) S_1 + |grad h|^2 S_2
//
// so a channel c is y_c += alpha_c S_1 + beta_c S_2. Neither basis features nor gathered
// coefficients are materialised; the cost per point does not depend on the grid size G.
//
// Shapes: h (C, N, in), sig = sigmoid(h[0]) (N, in), knots (in, G+2k+1), taylor (in, G, D, k+1 (p), k+1 (r)) (rows q = 0 used),
// table (in, G+k, out), w_base (in, out), pairs (P, 2) int64 tangent slots,
// laplacian (L,) int64 tangent slots; C = 1 + T + P + (L > 0). Output y (C, N, out).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

struct Layout {
  int64_t C, N, I, O;  // channels, points, inputs, outputs
  int64_t G, K, D;     // grid intervals, k+1, derivative blocks of the Taylor table
  int64_t T, P, L;     // tangents, second pairs, Laplacian axes
  const int64_t* pairs;
  const int64_t* laplacian;
};

// Number of the n sorted breaks that are <= x (the interval of x), by a binary search
// whose steps depend on n only: no mispredicted branches.
template <typename T>
inline int64_t count_not_above(const T* breaks, int64_t n, const T x) {
  if (n == 0) return 0;
  const T* base = breaks;
  while (n > 1) {
    const int64_t half = n / 2;
    base = base[half - 1] <= x ? base + half : base;
    n -= half;
  }
  return (base - breaks) + (*base <= x);
}

// p! / (p - q)!: the factor of du^(p-q) in the q-th derivative of du^p.
constexpr int64_t falling_factorial(int64_t p, int64_t q) {
  int64_t f = 1;
  for (int64_t j = 0; j < q; ++j) f *= p - j;
  return f;
}

// The q-th derivatives (q < Q) of the k+1 non-zero B-splines and of silu at x, and the
// index of the first of those B-splines. On the interval s the B-splines are polynomials
// in du = x - t_s, B_{s+r}(x) = sum_p taylor[s, 0, p, r] du^p (the value rows of the
// layer's Taylor table), differentiated here term by term; beyond the grid range the end
// interval's polynomials continue. FixedK: k+1 as a compile-time constant (0: s.K at run
// time).
template <typename T, int Q, int64_t FixedK>
struct Edge {
  int64_t first;
  T basis[Q][8];  // [q][r], k+1 <= 8
  T silu[Q];

  Edge(const T x, const T sig, const T* knots, const T* taylor, const Layout& s) {
    const int64_t K = FixedK > 0 ? FixedK : s.K, k = K - 1;
    first = count_not_above(knots + k + 1, s.G - 1, x);  // beyond the range: the end interval
    const T du = x - knots[k + first];
    const T* c = taylor + first * s.D * K * K;  // value rows: (k+1 (p), k+1 (r))
    for (int q = 0; q < Q; ++q) {
      for (int64_t r = 0; r < K; ++r) {
        T acc = q <= k ? c[k * K + r] * T(falling_factorial(k, q)) : T(0);
        for (int64_t p = k - 1; p >= q; --p) acc = acc * du + c[p * K + r] * T(falling_factorial(p, q));
        basis[q][r] = acc;
      }
    }
    // silu = x sig with sig = sigmoid(x) (given: a call to exp here would stall the
    // loop); with d1, d2, d3 the derivatives of sig:
    // silu' = sig + x d1, silu'' = 2 d1 + x d2, silu''' = 3 d2 + x d3
    const T d1 = sig * (T(1) - sig), d2 = d1 * (T(1) - T(2) * sig);
    const T d3 = d2 * (T(1) - T(2) * sig) - T(2) * d1 * d1;
    const T all[4] = {x * sig, sig + x * d1, T(2) * d1 + x * d2, T(3) * d2 + x * d3};
    for (int q = 0; q < Q; ++q) silu[q] = all[q];
  }
};

// S[q][o] = silu^(q) w_base[o] + sum_r basis[q][r] rows[r][o] for q in [q_begin, q_end)
template <typename T, int Q, int64_t Fixed, int64_t FixedK>
inline void edge_derivatives(const Edge<T, Q, FixedK>& e, const T* __restrict__ rows, const T* __restrict__ wb,
                             T* __restrict__ S, const int64_t K_, const int64_t O_, const int q_begin = 0,
                             const int q_end = Q) {
  const int64_t O = Fixed > 0 ? Fixed : O_;
  const int64_t K = FixedK > 0 ? FixedK : K_;
  for (int q = q_begin; q < q_end; ++q) {
    T* __restrict__ out = S + q * O;
#pragma omp simd
    for (int64_t o = 0; o < O; ++o) out[o] = e.silu[q] * wb[o];
    for (int64_t r = 0; r < K; ++r) {
      const T b = e.basis[q][r];
      const T* __restrict__ row = rows + r * O;
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) out[o] += b * row[o];
    }
  }
}

// alpha_c, beta_c of every derivative channel c >= 1 at (n, i).
template <typename T>
inline void channel_factors(const T* h, const Layout& s, const int64_t n, const int64_t i, T* alpha, T* beta) {
  auto at = [&](int64_t c) { return h[(c * s.N + n) * s.I + i]; };
  int64_t c = 1;
  for (int64_t t = 0; t < s.T; ++t, ++c) alpha[c] = at(c), beta[c] = 0;
  for (int64_t j = 0; j < s.P; ++j, ++c) alpha[c] = at(c), beta[c] = at(1 + s.pairs[2 * j]) * at(1 + s.pairs[2 * j + 1]);
  if (s.L > 0) {
    T square = 0;
    for (int64_t j = 0; j < s.L; ++j) square += at(1 + s.laplacian[j]) * at(1 + s.laplacian[j]);
    alpha[c] = at(c), beta[c] = square;
  }
}

// Everything comes in by value: in a lambda capturing by reference the compiler reloads
// sizes and pointers in the inner loops (measured 3x slower).
template <typename T, int64_t Fixed, int64_t FixedK>
void forward_points(const T* h, const T* sig, const T* knots, const T* taylor, const T* table, const T* w_base, T* y,
                    const Layout s, const int64_t begin, const int64_t end) {
  const int64_t O = Fixed > 0 ? Fixed : s.O;
  std::vector<T> S(3 * O), alpha(s.C), beta(s.C);
  for (int64_t n = begin; n < end; ++n) {
    for (int64_t c = 0; c < s.C; ++c) std::fill_n(y + (c * s.N + n) * O, O, T(0));
    for (int64_t i = 0; i < s.I; ++i) {
      const Edge<T, 3, FixedK> e(h[n * s.I + i], sig[n * s.I + i], knots + i * (s.G + 2 * s.K - 1), taylor + i * s.G * s.D * s.K * s.K, s);
      edge_derivatives<T, 3, Fixed, FixedK>(e, table + (i * (s.G + s.K - 1) + e.first) * O, w_base + i * O, S.data(), s.K, O);
      channel_factors(h, s, n, i, alpha.data(), beta.data());
      T* __restrict__ y0 = y + n * O;
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) y0[o] += S[o];
      for (int64_t c = 1; c < s.C; ++c) {
        T* __restrict__ yc = y + (c * s.N + n) * O;
        const T a = alpha[c], b = beta[c];
        const T* __restrict__ S1 = S.data() + O;
        const T* __restrict__ S2 = S.data() + 2 * O;
#pragma omp simd
        for (int64_t o = 0; o < O; ++o) yc[o] += a * S1[o] + b * S2[o];
      }
    }
  }
}

// Gradients of sum_c <grad_y_c, y_c> with respect to h (if grad_h), and, accumulated into
// this thread's private table_acc / base_acc, with respect to table and w_base.
template <typename T, int64_t Fixed, int64_t FixedK>
void backward_points(const T* h, const T* sig, const T* knots, const T* taylor, const T* table, const T* w_base,
                     const T* grad_y, T* grad_h, T* table_acc, T* base_acc, const Layout s,
                     const int64_t begin, const int64_t end) {
  const int64_t O = Fixed > 0 ? Fixed : s.O;
  std::vector<T> S(4 * O), G1(O), G2(O), alpha(s.C), beta(s.C);
  for (int64_t n = begin; n < end; ++n) {
    for (int64_t i = 0; i < s.I; ++i) {
      const Edge<T, 4, FixedK> e(h[n * s.I + i], sig[n * s.I + i], knots + i * (s.G + 2 * s.K - 1), taylor + i * s.G * s.D * s.K * s.K, s);
      const int64_t offset = (i * (s.G + s.K - 1) + e.first) * O;
      // S_0 is not needed; S_3 only for the gradient with respect to x
      edge_derivatives<T, 4, Fixed, FixedK>(e, table + offset, w_base + i * O, S.data(), s.K, O, 1, grad_h ? 4 : 3);
      channel_factors(h, s, n, i, alpha.data(), beta.data());
      const T* __restrict__ S1 = S.data() + O;
      const T* __restrict__ S2 = S.data() + 2 * O;
      const T* __restrict__ S3 = S.data() + 3 * O;
      const T* __restrict__ g0 = grad_y + n * O;
      std::fill(G1.begin(), G1.end(), T(0));
      std::fill(G2.begin(), G2.end(), T(0));
      T grad_x = 0;
      if (grad_h) {
#pragma omp simd reduction(+ : grad_x)
        for (int64_t o = 0; o < O; ++o) grad_x += g0[o] * S1[o];
      }
      for (int64_t c = 1; c < s.C; ++c) {
        const T* __restrict__ gc = grad_y + (c * s.N + n) * O;
        const T a = alpha[c], b = beta[c];
        if (grad_h) {
          T u = 0, v = 0, z = 0;  // <g_c, S_1>, <g_c, S_2>, <g_c, S_3>
#pragma omp simd reduction(+ : u, v, z)
          for (int64_t o = 0; o < O; ++o) u += gc[o] * S1[o], v += gc[o] * S2[o], z += gc[o] * S3[o];
          grad_x += a * v + b * z;  // d/dx (a S_1 + b S_2)
          alpha[c] = u, beta[c] = v;  // now: gradients with respect to alpha_c and beta_c
        }
        T* __restrict__ g1 = G1.data();
        T* __restrict__ g2 = G2.data();
#pragma omp simd
        for (int64_t o = 0; o < O; ++o) g1[o] += a * gc[o], g2[o] += b * gc[o];
      }
      if (grad_h) {
        auto hat = [&](int64_t c) { return h[(c * s.N + n) * s.I + i]; };
        auto g = [&](int64_t c) -> T& { return grad_h[(c * s.N + n) * s.I + i]; };
        g(0) = grad_x;
        int64_t c = 1;
        for (int64_t t = 0; t < s.T; ++t, ++c) g(c) = alpha[c];
        for (int64_t j = 0; j < s.P; ++j, ++c) {  // beta = h_a h_b
          const int64_t a = 1 + s.pairs[2 * j], b = 1 + s.pairs[2 * j + 1];
          g(c) = alpha[c];
          g(a) += beta[c] * hat(b);
          g(b) += beta[c] * hat(a);
        }
        if (s.L > 0) {  // beta = sum_a h_a^2
          g(c) = alpha[c];
          for (int64_t j = 0; j < s.L; ++j) g(1 + s.laplacian[j]) += T(2) * beta[c] * hat(1 + s.laplacian[j]);
        }
      }
      // y_0 = S_0 and y_c = alpha_c S_1 + beta_c S_2: the rows meet g0, G1 = sum alpha_c g_c,
      // G2 = sum beta_c g_c through basis[0], basis[1], basis[2]; w_base through silu
      for (int64_t r = 0; r < s.K; ++r) {
        const T b0 = e.basis[0][r], b1 = e.basis[1][r], b2 = e.basis[2][r];
        T* __restrict__ acc = table_acc + offset + r * O;
#pragma omp simd
        for (int64_t o = 0; o < O; ++o) acc[o] += b0 * g0[o] + b1 * G1[o] + b2 * G2[o];
      }
      T* __restrict__ bacc = base_acc + i * O;
#pragma omp simd
      for (int64_t o = 0; o < O; ++o) bacc[o] += e.silu[0] * g0[o] + e.silu[1] * G1[o] + e.silu[2] * G2[o];
    }
  }
}

// Calls body.template operator()<Fixed, FixedK>() with the output width and k+1 as
// compile-time constants for cubic splines and the usual widths (full-width vector
// instructions, unrolled Horner), and as run-time values (0) otherwise.
template <typename Body>
void with_sizes(int64_t O, int64_t K, Body body) {
  if (K != 4) return body.template operator()<0, 0>();
  switch (O) {
    case 1: return body.template operator()<1, 4>();
    case 2: return body.template operator()<2, 4>();
    case 4: return body.template operator()<4, 4>();
    case 8: return body.template operator()<8, 4>();
    case 16: return body.template operator()<16, 4>();
    case 32: return body.template operator()<32, 4>();
    case 64: return body.template operator()<64, 4>();
    default: return body.template operator()<0, 4>();
  }
}

Layout check(const at::Tensor& h, const at::Tensor& sig, const at::Tensor& knots, const at::Tensor& taylor, const at::Tensor& table,
             const at::Tensor& w_base, const at::Tensor& pairs, const at::Tensor& laplacian) {
  for (const at::Tensor* t : {&h, &sig, &knots, &taylor, &table, &w_base, &pairs, &laplacian}) {
    TORCH_CHECK(t->device().is_cpu() && t->is_contiguous(), "layer_jet: CPU tensors, contiguous");
  }
  for (const at::Tensor* t : {&sig, &knots, &taylor, &table, &w_base}) {
    TORCH_CHECK(t->scalar_type() == h.scalar_type(), "layer_jet: all floating tensors share one dtype");
  }
  TORCH_CHECK(pairs.scalar_type() == at::kLong && laplacian.scalar_type() == at::kLong, "layer_jet: int64 slots");
  TORCH_CHECK(h.dim() == 3 && taylor.dim() == 5 && table.dim() == 3 && pairs.dim() == 2, "layer_jet: ranks");
  Layout s{h.size(0), h.size(1), h.size(2), table.size(2), taylor.size(1), taylor.size(3), taylor.size(2),
           0, pairs.size(0), laplacian.size(0), pairs.data_ptr<int64_t>(), laplacian.data_ptr<int64_t>()};
  s.T = s.C - 1 - s.P - (s.L > 0 ? 1 : 0);
  TORCH_CHECK(s.T >= 0 && s.K <= 8 && taylor.size(4) == s.K && taylor.size(0) == s.I && table.size(0) == s.I &&
                  table.size(1) == s.G + s.K - 1 && knots.size(1) == s.G + 2 * s.K - 1 && w_base.size(0) == s.I &&
                  w_base.size(1) == s.O,
              "layer_jet: inconsistent shapes");
  return s;
}

at::Tensor forward(const at::Tensor& h, const at::Tensor& sig, const at::Tensor& knots, const at::Tensor& taylor, const at::Tensor& table,
                   const at::Tensor& w_base, const at::Tensor& pairs, const at::Tensor& laplacian) {
  const Layout s = check(h, sig, knots, taylor, table, w_base, pairs, laplacian);
  at::Tensor y = at::empty({s.C, s.N, s.O}, h.options());
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "layer_jet_forward", [&] {
    const scalar_t *hp = h.data_ptr<scalar_t>(), *sp = sig.data_ptr<scalar_t>(), *kp = knots.data_ptr<scalar_t>(), *tp = taylor.data_ptr<scalar_t>();
    const scalar_t *cp = table.data_ptr<scalar_t>(), *wp = w_base.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    with_sizes(s.O, s.K, [&]<int64_t Fixed, int64_t FixedK>() {
      at::parallel_for(0, s.N, 16, [=](int64_t begin, int64_t end) {
        forward_points<scalar_t, Fixed, FixedK>(hp, sp, kp, tp, cp, wp, yp, s, begin, end);
      });
    });
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(
    const at::Tensor& h, const at::Tensor& sig, const at::Tensor& knots, const at::Tensor& taylor, const at::Tensor& table,
    const at::Tensor& w_base, const at::Tensor& pairs, const at::Tensor& laplacian, const at::Tensor& grad_y_,
    bool need_h) {
  const Layout s = check(h, sig, knots, taylor, table, w_base, pairs, laplacian);
  const at::Tensor grad_y = grad_y_.contiguous();
  // every entry of grad_h is assigned (tangent slots before the pairs and Laplacian add to them)
  at::Tensor grad_h = need_h ? at::empty_like(h) : at::Tensor();
  const int64_t threads = at::get_num_threads();
  // one private accumulator per thread: [table (in, G+k, out) | w_base (in, out)]
  const int64_t table_size = table.numel(), size = table_size + w_base.numel();
  at::Tensor partial = at::zeros({threads, size}, h.options());
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "layer_jet_backward", [&] {
    const scalar_t *hp = h.data_ptr<scalar_t>(), *sp = sig.data_ptr<scalar_t>(), *kp = knots.data_ptr<scalar_t>(), *tp = taylor.data_ptr<scalar_t>();
    const scalar_t *cp = table.data_ptr<scalar_t>(), *wp = w_base.data_ptr<scalar_t>();
    const scalar_t* gp = grad_y.data_ptr<scalar_t>();
    scalar_t* ghp = need_h ? grad_h.data_ptr<scalar_t>() : nullptr;
    scalar_t* pp = partial.data_ptr<scalar_t>();
    with_sizes(s.O, s.K, [&]<int64_t Fixed, int64_t FixedK>() {
      at::parallel_for(0, s.N, 16, [=](int64_t begin, int64_t end) {
        scalar_t* acc = pp + at::get_thread_num() * size;
        backward_points<scalar_t, Fixed, FixedK>(hp, sp, kp, tp, cp, wp, gp, ghp, acc, acc + table_size, s, begin, end);
      });
    });
  });
  at::Tensor total = partial.sum(0);
  return {grad_h, total.narrow(0, 0, table_size).view(table.sizes()),
          total.narrow(0, table_size, w_base.numel()).view(w_base.sizes())};
}

}  // namespace

TORCH_LIBRARY(kanpde, m) {
  m.def("layer_jet(Tensor h, Tensor sig, Tensor knots, Tensor taylor, Tensor table, Tensor w_base, Tensor pairs, "
        "Tensor laplacian) -> Tensor", &forward);
  m.def("layer_jet_backward(Tensor h, Tensor sig, Tensor knots, Tensor taylor, Tensor table, Tensor w_base, Tensor pairs, "
        "Tensor laplacian, Tensor grad_y, bool need_h) -> (Tensor, Tensor, Tensor)", &backward);
}
