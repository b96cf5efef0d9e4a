#include <gtest/gtest.h>

#include "trace/reference_stage_names.hpp"

namespace bitnet {
namespace {

void expect_stage(std::string_view name, Stage stage, int layer, bool scales = false) {
  const auto r = reference_stage(name, scales);
  ASSERT_TRUE(r.has_value()) << name;
  EXPECT_EQ(r->stage, stage) << name;
  EXPECT_EQ(r->layer, layer) << name;
}

TEST(TraceReferenceNames, MapsTheBitnetGraphNames) {
  expect_stage("inp_embd", Stage::embeddings, -1);
  expect_stage("attn_norm-0", Stage::attn_norm, 0);
  expect_stage("Qcur-2", Stage::q_proj, 2);
  expect_stage("Kcur-2", Stage::k_proj, 2);
  expect_stage("Vcur-29", Stage::v_proj, 29);
  expect_stage("kqv_out-2", Stage::attn_out, 2);
  expect_stage("attn_sub_norm-2", Stage::attn_sub_norm, 2);
  expect_stage("attn_o_out-2", Stage::o_proj, 2);
  expect_stage("ffn_norm-2", Stage::ffn_norm, 2);
  expect_stage("ffn_gate-2", Stage::ffn_gate, 2);
  expect_stage("ffn_up-2", Stage::ffn_up, 2);
  expect_stage("ffn_sub_out-2", Stage::ffn_act, 2);
  expect_stage("ffn_sub_norm-2", Stage::ffn_sub_norm, 2);
  expect_stage("ffn_down-2", Stage::ffn_out, 2);
  expect_stage("l_out-3", Stage::layer_out, 3);
  expect_stage("result_norm", Stage::final_norm, -1);
  expect_stage("result_output", Stage::logits, -1);
}

TEST(TraceReferenceNames, ScaledFfnProductsWhenTheModelHasScaleTensors) {
  expect_stage("ffn_gate_s-1", Stage::ffn_gate, 1, true);
  expect_stage("ffn_up_s-1", Stage::ffn_up, 1, true);
  EXPECT_FALSE(reference_stage("ffn_gate-1", true).has_value());
  EXPECT_FALSE(reference_stage("ffn_up-1", true).has_value());
  EXPECT_FALSE(reference_stage("ffn_gate_s-1", false).has_value());
}

TEST(TraceReferenceNames, NamesWithoutCounterpart) {
  for (const char* name :
       {"ffn_inp-2", "norm-2", "kq-2", "kq_soft_max_ext-2", "kqv-2", "kqv_merged_cont-2",
        "ffn_silu-2", "ffn_relu-2", "ffn_gate_par-2", "inp_pos", "Qcur", "Qcur-", "Qcur-x",
        "Qcur--1", "Qcur-2a", "attn_norm-2-3", "", "-"}) {
    EXPECT_FALSE(reference_stage(name).has_value()) << name;
  }
}

}  // namespace
}  // namespace bitnet
