// dualrerank: the simulator wing. The built-in world (users, items, whole-page feedback with a
// closed form), its behaviour policies and drifting stream, the teacher recipes that need the
// world, the RL loop's world adapter, and the demo pipeline. Nothing outside sim/ and examples/
// includes this wing; a serving build never sees it.
#pragma once

#include "../dualrerank.hpp"
#include "log_export.hpp"
#include "pipeline.hpp"
#include "policies.hpp"
#include "posterior.hpp"
#include "recipes.hpp"
#include "rl_world.hpp"
#include "simulator.hpp"
#include "stream.hpp"
#include "world.hpp"
