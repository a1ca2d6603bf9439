// Recurrent layers: LSTM and GRU (forward, reverse, bidirectional; sequence_lens; both
// layouts). The input projections of all time steps are one GEMM; each step then adds H·Rᵀ.
#include <cmath>

#include "lib/exec/gemm.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

struct Activation {
  std::string name;
  float alpha = 0, beta = 0;
  float operator()(float x) const { return apply_activation(name, x, alpha, beta); }
};

float default_alpha(const std::string& n) {
  if (n == "LeakyRelu") return 0.01f;
  if (n == "HardSigmoid") return 0.2f;
  if (n == "Affine" || n == "ThresholdedRelu" || n == "ScaledTanh" || n == "Elu") return 1.0f;
  return 0.0f;
}
float default_beta(const std::string& n) {
  if (n == "HardSigmoid") return 0.5f;
  if (n == "ScaledTanh") return 1.0f;
  return 0.0f;
}

std::vector<Activation> activations(const KernelContext& c, const std::vector<std::string>& defaults, int directions) {
  std::vector<std::string> names;
  if (c.node.has("activations")) names = c.node.attrs.at("activations").strings;
  if (names.empty())
    for (int d = 0; d < directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  if (names.size() != defaults.size() * static_cast<size_t>(directions)) c.fail("expected {} activations", defaults.size() * static_cast<size_t>(directions));
  const auto alphas = c.node.get_floats("activation_alpha"), betas = c.node.get_floats("activation_beta");
  std::vector<Activation> result;
  for (size_t i = 0; i < names.size(); ++i)
    result.push_back({names[i], i < alphas.size() ? alphas[i] : default_alpha(names[i]),
                      i < betas.size() ? betas[i] : default_beta(names[i])});
  return result;
}

enum class Cell { Lstm, Gru };

template <Cell kCell>
void recurrent(KernelContext& c) {
  const Tensor &x_in = c.in(0), &w = c.in(1), &r = c.in(2);
  if (x_in.dtype() != DType::Float32) c.fail("only float inputs are supported");
  const int gates = kCell == Cell::Lstm ? 4 : 3;
  const int64_t hidden = c.node.get_int("hidden_size", r.dim(2));
  const std::string direction = c.node.get_string("direction", "forward");
  const int dirs = direction == "bidirectional" ? 2 : 1;
  const bool batch_first = c.node.get_int("layout", 0) == 1;
  const float clip = c.node.get_float("clip", 0.0f);
  const bool input_forget = c.node.get_int("input_forget", 0) != 0;
  const bool linear_before_reset = c.node.get_int("linear_before_reset", 0) != 0;
  const int64_t seq = batch_first ? x_in.dim(1) : x_in.dim(0), batch = batch_first ? x_in.dim(0) : x_in.dim(1);
  const int64_t input = x_in.dim(2), G = gates * hidden;
  // Work in [seq, batch, input] order.
  std::vector<float> x(static_cast<size_t>(x_in.numel()));
  for (int64_t t = 0; t < seq; ++t)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < input; ++i)
        x[static_cast<size_t>((t * batch + b) * input + i)] =
            x_in.data<float>()[batch_first ? (b * seq + t) * input + i : (t * batch + b) * input + i];
  std::vector<int64_t> lens(static_cast<size_t>(batch), seq);
  if (c.has(4)) lens = c.in(4).to_int64_vector();
  const auto acts = activations(c, kCell == Cell::Lstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                                       : std::vector<std::string>{"Sigmoid", "Tanh"}, dirs);
  const size_t per_dir = kCell == Cell::Lstm ? 3 : 2;

  std::vector<float> Y(static_cast<size_t>(seq * dirs * batch * hidden), 0.0f);
  std::vector<float> Yh(static_cast<size_t>(dirs * batch * hidden)), Yc(static_cast<size_t>(dirs * batch * hidden));
  for (int d = 0; d < dirs; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    const float* Wd = w.data<float>() + d * G * input;
    const float* Rd = r.data<float>() + d * G * hidden;
    std::vector<float> wb(static_cast<size_t>(G), 0.0f), rb(static_cast<size_t>(G), 0.0f);
    if (c.has(3))
      for (int64_t g = 0; g < G; ++g) {
        wb[static_cast<size_t>(g)] = c.in(3).data<float>()[d * 2 * G + g];
        rb[static_cast<size_t>(g)] = c.in(3).data<float>()[d * 2 * G + G + g];
      }
    const size_t init_h_input = 5, init_c_input = 6, peephole_input = 7;
    std::vector<float> h(static_cast<size_t>(batch * hidden), 0.0f), cs(static_cast<size_t>(batch * hidden), 0.0f);
    auto load_state = [&](size_t input_index, std::vector<float>& state) {
      if (!c.has(input_index)) return;
      const Tensor& t = c.in(input_index);
      const float* src = t.data<float>();
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < hidden; ++j)
          state[static_cast<size_t>(b * hidden + j)] =
              batch_first ? src[(b * dirs + d) * hidden + j] : src[(d * batch + b) * hidden + j];
    };
    load_state(init_h_input, h);
    if (kCell == Cell::Lstm) load_state(init_c_input, cs);
    std::vector<float> peep(static_cast<size_t>(3 * hidden), 0.0f);
    if (kCell == Cell::Lstm && c.has(peephole_input))
      for (int64_t j = 0; j < 3 * hidden; ++j) peep[static_cast<size_t>(j)] = c.in(peephole_input).data<float>()[d * 3 * hidden + j];
    // XW[t*batch + b][g] for every step at once.
    std::vector<float> xw(static_cast<size_t>(seq * batch * G));
    gemm<float>(false, true, seq * batch, G, input, 1.0f, x.data(), input, Wd, input, 0.0f, xw.data(), G);
    std::vector<float> hr(static_cast<size_t>(batch * G));
    const Activation &f = acts[d * per_dir], &g_act = acts[d * per_dir + 1];
    const Activation& h_act = kCell == Cell::Lstm ? acts[d * per_dir + 2] : acts[d * per_dir + 1];
    auto clipped = [clip](float v) { return clip > 0 ? std::clamp(v, -clip, clip) : v; };
    for (int64_t step = 0; step < seq; ++step) {
      gemm<float>(false, true, batch, G, hidden, 1.0f, h.data(), hidden, Rd, hidden, 0.0f, hr.data(), G);
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t len = lens[static_cast<size_t>(b)];
        if (step >= len) continue;
        const int64_t t = reverse ? len - 1 - step : step;
        const float* xg = xw.data() + (t * batch + b) * G;
        const float* hg = hr.data() + b * G;
        float* hb = h.data() + b * hidden;
        float* cb = cs.data() + b * hidden;
        std::vector<float> new_h(static_cast<size_t>(hidden));
        for (int64_t j = 0; j < hidden; ++j) {
          auto pre = [&](int gate) {
            const size_t k = static_cast<size_t>(gate * hidden + j);
            return xg[k] + hg[k] + wb[k] + rb[k];
          };
          if constexpr (kCell == Cell::Lstm) {  // gate order i, o, f, c
            float i_g = f(clipped(pre(0) + peep[static_cast<size_t>(j)] * cb[j]));
            float f_g = f(clipped(pre(2) + peep[static_cast<size_t>(2 * hidden + j)] * cb[j]));
            if (input_forget) f_g = 1.0f - i_g;
            const float c_g = g_act(clipped(pre(3)));
            const float c_new = f_g * cb[j] + i_g * c_g;
            const float o_g = f(clipped(pre(1) + peep[static_cast<size_t>(hidden + j)] * c_new));
            cb[j] = c_new;
            new_h[static_cast<size_t>(j)] = o_g * h_act(c_new);
          } else {  // gate order z, r, h
            const float z = f(clipped(pre(0)));
            const float rg = f(clipped(pre(1)));
            const size_t k = static_cast<size_t>(2 * hidden + j);
            float hh;
            if (linear_before_reset) {
              hh = g_act(clipped(xg[k] + wb[k] + rg * (hg[k] + rb[k])));
            } else {
              // (r ⊙ H)·Rhᵀ needs its own product per row.
              float acc = 0;
              const float* rrow = Rd + (2 * hidden + j) * hidden;
              for (int64_t q = 0; q < hidden; ++q) {
                const size_t rq = static_cast<size_t>(hidden + q);
                const float r_q = f(clipped(xg[rq] + hg[rq] + wb[rq] + rb[rq]));
                acc += r_q * hb[q] * rrow[q];
              }
              hh = g_act(clipped(xg[k] + wb[k] + acc + rb[k]));
            }
            new_h[static_cast<size_t>(j)] = (1.0f - z) * hh + z * hb[j];
          }
        }
        std::copy(new_h.begin(), new_h.end(), hb);
        std::copy(new_h.begin(), new_h.end(), Y.begin() + ((t * dirs + d) * batch + b) * hidden);
      }
    }
    std::copy(h.begin(), h.end(), Yh.begin() + d * batch * hidden);
    std::copy(cs.begin(), cs.end(), Yc.begin() + d * batch * hidden);
  }
  // Outputs in the requested layout.
  if (c.outputs.size() > 0 && !c.node.outputs[0].empty()) {
    Shape s = batch_first ? Shape{batch, seq, dirs, hidden} : Shape{seq, dirs, batch, hidden};
    Tensor y(DType::Float32, s);
    for (int64_t t = 0; t < seq; ++t)
      for (int d = 0; d < dirs; ++d)
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t j = 0; j < hidden; ++j)
            y.data<float>()[batch_first ? ((b * seq + t) * dirs + d) * hidden + j : ((t * dirs + d) * batch + b) * hidden + j] =
                Y[static_cast<size_t>(((t * dirs + d) * batch + b) * hidden + j)];
    c.outputs[0] = std::move(y);
  }
  auto state_out = [&](const std::vector<float>& state) {
    Shape s = batch_first ? Shape{batch, dirs, hidden} : Shape{dirs, batch, hidden};
    Tensor t(DType::Float32, s);
    for (int d = 0; d < dirs; ++d)
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < hidden; ++j)
          t.data<float>()[batch_first ? (b * dirs + d) * hidden + j : (d * batch + b) * hidden + j] =
              state[static_cast<size_t>((d * batch + b) * hidden + j)];
    return t;
  };
  if (c.outputs.size() > 1) c.outputs[1] = state_out(Yh);
  if (kCell == Cell::Lstm && c.outputs.size() > 2) c.outputs[2] = state_out(Yc);
}

}  // namespace

void register_rnn_ops(Registry& r) {
  r["LSTM"] = recurrent<Cell::Lstm>;
  r["GRU"] = recurrent<Cell::Gru>;
}

}  // namespace dyad::ops
