// fp16's dynamic loss scale, step by step against Megatron's DynamicGradScaler.update worked by
// hand: backoff only after `hysteresis` overflowing steps in a row, never below the minimum;
// growth after `growth_interval` clean steps, which also restores the hysteresis.
#define BOOST_TEST_MODULE grad_scaler
#include <boost/test/unit_test.hpp>

#include "exec/grad_scaler.hpp"
#include "models/toml_reader.hpp"

using namespace parallax;
using namespace parallax::exec;

BOOST_AUTO_TEST_CASE(the_scale_backs_off_and_grows_as_megatrons) {
  DynamicGradScaler::Settings s;
  s.initial_scale = 8;
  s.min_scale = 1;
  s.growth_interval = 3;
  s.hysteresis = 2;
  DynamicGradScaler scaler(s);
  const bool T = true, F = false;
  const std::vector<bool> found_inf = {T, T, T, F, F, F, T, F, F, F, F, F, F, T, T, T, T, T, T};
  const std::vector<float> expected = {8, 4, 2, 2, 2, 4, 4, 4, 4, 8, 8, 8, 16, 16, 8, 4, 2, 1, 1};
  for (size_t i = 0; i < found_inf.size(); ++i) {
    scaler.update(found_inf[i]);
    BOOST_TEST(scaler.scale() == expected[i], "after step " << i + 1);
  }
  BOOST_TEST(scaler.inv_scale() == 1.0f);
}

BOOST_AUTO_TEST_CASE(megatrons_defaults_and_the_experiment_keys) {
  const DynamicGradScaler defaults({});
  BOOST_TEST(defaults.scale() == 4294967296.0f);
  const Experiment e = load_experiment_text(
      "[model]\npreset=\"tiny-gpt\"\n[system]\npreset=\"cpu\"\ngpus=1\n[training]\nglobal_batch=8\nmicro_batch=8\nprecision=\"fp32\"\n"
      "initial_loss_scale=1024\nmin_loss_scale=4\nloss_scale_window=50\nhysteresis=1\n",
      "test");
  const DynamicGradScaler::Settings s = loss_scale_settings(e.training);
  BOOST_TEST(s.initial_scale == 1024.0f);
  BOOST_TEST(s.min_scale == 4.0f);
  BOOST_TEST(s.growth_interval == 50);
  BOOST_TEST(s.hysteresis == 1);
  DynamicGradScaler scaler(s);
  scaler.update(true);  // hysteresis 1: the first overflow backs off
  BOOST_TEST(scaler.scale() == 512.0f);
}
