"""Ape-X training as jitted chunks (purejaxrl style; Cassimon et al. §3.2.3, §4.1.1).

``make_train(config, env_params)`` binds a config (``configs/apex.py``) and returns a
:class:`Trainer`: ``init(key) -> TrainState``, a jitted ``chunk(state) -> (state, metrics)``
(``iterations_per_chunk`` iterations in one ``lax.scan``, the state donated) and
``train(key, hyper)``, the whole run as one pure function (``jit``/``vmap`` over seeds and
:class:`Hyperparams`). A host loop (``launch/train_apex.py``) calls ``chunk`` for progress
bars, metrics and checkpoints.

The discount, the learning rate, the actors' exploration rates, the replay's importance
exponent and the reward-shaping exponent alpha with its reward scale (:class:`Hyperparams`) are
traced inputs of ``init_with``/``chunk_with``, not constants of the program: sweep points that
differ only in them (or in the seed) train together, one compiled program for all the points
(:func:`points_chunk`: purejaxrl's ``jit(vmap(train))`` on accelerators, the single run's
chunk for each point in turn on one CPU device); ``init``/``chunk`` pass the config's.
Without shaping (``env.alpha = None``) the reward is another function, so such points form
their own program (:func:`nasjax.sweep.groups`).

One iteration interleaves acting and learning at a fixed replay ratio (trained samples per
environment step): ``actor_steps`` batched actor steps (each adding ``E`` items to the
replay), then ``learner_steps`` learner steps of ``batch_size`` items, the smallest integers
with ``learner_steps * batch_size = replay_ratio * actor_steps * E``. Ape-X runs actors and
learner asynchronously (Horgan et al. 2018, §3); a fixed ratio makes a run reproducible
bit for bit and independent of the machine's speed.

Learner (Cassimon et al. §3.2.3): 3-step double Q-learning with a target network, Huber loss
weighted by prioritized-replay importance weights, Adam with global-norm gradient clipping;
new priorities ``|td|`` (:func:`make_learner_step`). Learning starts once ``learning_starts``
items have entered the replay (RLlib 1.13's Ape-X replay shards wait for ``learning_starts``
added steps); the target network is copied every ``target_update_period`` trained samples.

Actor weights (``weight_sync``): ``"learner_steps"`` copies the parameters to the actors every
``actor_update_period`` learner steps (ours); ``"sample_batch"`` is RLlib 1.13's Ape-X: a
worker sends a sample batch of ``rollout_fragment_length`` steps of each of its
``envs_per_worker`` environments, and gets the learner's weights after it once
``max_weight_sync_delay`` of its steps have passed since its last update, so here every
:func:`sync_period` actor steps (50 in the paper's setting: a batch is 50 x 32 = 1,600 >= 400
worker steps).

Counts. ``env_steps`` and ``episodes`` include the ``n - 1`` steps per environment that fill
the actors' histories before the first replay item (:mod:`~nasjax.agents.apex.actors`);
``total_steps`` and ``learning_starts`` count the steps that add items.

Devices (``config.devices = D``): the actors' environments and the replay split into ``D``
shards, one per device (of every process: :mod:`nasjax.distributed`), with ``jax.shard_map``;
each shard acts on its ``E / D`` environments, stores their items in its own buffer of
``capacity / D`` slots and samples ``batch_size / D`` items per learner step (Ape-X's replay
is sharded the same way, Horgan et al. §3), and the gradients are averaged over the shards, so
the parameters stay replicated. ``D = 1`` is the single-device run. The state's ``replay`` and
``actors`` carry a leading shard axis ``[D, ...]``; the result depends on ``D`` (each shard
samples its own buffer), never on the machine nor on how the D devices split into processes.
"""

from __future__ import annotations

import dataclasses
import fractions
import functools
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nasjax import benchmarks, distributed, env, sharding, spaces
from nasjax.agents.apex import actors as actors_lib
from nasjax.agents.apex import losses, network, replay

AXIS = "shards"  # the mesh axis of actors and replay
METRICS = ("env_steps", "episodes", "chunk_episodes", "final_val_acc", "loss", "mean_q",
           "trained_samples", "learner_steps")  # what ``chunk`` reports


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue (checkpointed whole)."""

    params: Any  # online Q-network
    target_params: Any  # target network (Mnih et al. 2015)
    actor_params: Any  # the actors' copy
    opt_state: Any  # Adam
    replay: replay.ReplayState  # leaves [D, ...]: one buffer per shard
    actors: actors_lib.ActorState  # leaves [D, ...]: one set of environments per shard
    key: jax.Array  # uint32[2]: raw PRNG key (checkpoints as plain integers)
    env_steps: jax.Array  # int32[]: environment steps taken ((n - 1 + actor steps) x E)
    trained_samples: jax.Array  # int32[]: items the learner has trained on
    learner_steps: jax.Array  # int32[]
    episodes: jax.Array  # int32[]: training episodes ended


@flax.struct.dataclass
class Hyperparams:
    """The settings that sweep points may differ in and still train together (traced)."""

    gamma: jax.Array  # float32[]: discount of the n-step returns (§3.2.3; Fig. 17 ablates it)
    learning_rate: jax.Array  # float32[]: Adam's step size
    epsilons: jax.Array  # float32[E]: each environment's exploration rate (its worker's)
    priority_beta: jax.Array  # float32[]: the replay's importance-sampling exponent (§4.1.1)
    alpha: jax.Array | None  # float32[]: reward-shaping exponent (§3.2.2; Fig. 19 ablates it);
    # None without shaping, a program of its own
    reward_scale: jax.Array  # float32[]: factor on the stored rewards (actors.reward_factor)


# Config fields that only enter :class:`Hyperparams` (with ``seed``, the points' key); of
# ``env.alpha`` only whether it is None is a constant of the program.
HYPERPARAM_FIELDS = ("gamma", "learning_rate", "epsilon", "epsilon_exponent",
                     "priority_beta", "env.alpha")


def hyperparams(config) -> Hyperparams:
    """The :class:`Hyperparams` of a config (the reward scale computed in float64, then cast,
    as a constant of the program was)."""
    alpha = config.env.alpha
    return Hyperparams(gamma=jnp.float32(config.gamma),
                       learning_rate=jnp.float32(config.learning_rate),
                       epsilons=actors_lib.worker_epsilons(
                           config.num_workers, config.envs_per_worker, config.epsilon,
                           config.epsilon_exponent),
                       priority_beta=jnp.float32(config.priority_beta),
                       alpha=None if alpha is None else jnp.float32(alpha),
                       reward_scale=jnp.float32(actors_lib.reward_factor(config.reward_scale,
                                                                         alpha)))


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A bound Ape-X run (see the module docstring)."""

    net: network.QNetwork
    actors: actors_lib.Actors
    buffer: replay.PrioritizedBuffer
    actor_steps: int  # per iteration
    learner_steps: int  # per iteration
    env_steps_per_chunk: int
    num_chunks: int
    hyper: Hyperparams  # the config's
    init: Callable[[jax.Array], TrainState]  # with ``hyper``
    chunk: Callable[[TrainState], tuple[TrainState, dict]]  # jitted, with ``hyper``
    init_with: Callable[[jax.Array, Hyperparams], TrainState]  # a point's (vmappable)
    chunk_with: Callable[[TrainState, Hyperparams], tuple[TrainState, dict]]  # (vmappable)
    train: Callable[[jax.Array, Hyperparams], tuple[TrainState, dict]]
    placement: Any = None  # the state's shardings over the devices (None: one device)


def make_env_params(config, data_dir, progress: bool = True) -> tuple[env.EnvParams, str]:
    """The training environment of a config (``train_episode_length`` steps), and its
    benchmark's label (``progress``: bars while a missing cache is built)."""
    bench = benchmarks.load(config.benchmark, data_dir, progress=progress)
    space = spaces.get(bench.space, config.env.neighbourhood, data_dir)
    params = env.make_params(space, bench, max_neighbours=config.env.max_neighbours,
                             alpha=config.env.alpha,
                             episode_length=config.env.train_episode_length,
                             query_mode=config.env.query_mode)
    return params, bench.label


def make_network(config) -> network.QNetwork:
    """The Q-network of a config's ``network`` block (a run directory's ``config.json``
    written before ``dueling_input`` existed trained the ``"every_token"`` head)."""
    block = config.network
    return network.QNetwork(latent_dim=block.latent_dim, encoder_layers=block.encoder_layers,
                            num_layers=block.num_layers, num_heads=block.num_heads,
                            mlp_ratio=block.mlp_ratio, positional=block.positional,
                            dueling_input=block.get("dueling_input", "every_token"))


def make_buffer(config, shards: int = 1) -> replay.PrioritizedBuffer:
    """One shard's prioritized replay buffer of a config."""
    return replay.make_prioritized_buffer(
        capacity=config.replay_capacity // shards,
        sample_batch_size=config.batch_size // shards,
        alpha=config.priority_alpha, beta=config.priority_beta, eps=config.priority_eps,
        normalisation=config.importance_weights)


def sync_period(config) -> int:
    """Actor steps between weight syncs under ``weight_sync = "sample_batch"``: a worker's
    sample batch is ``rollout_fragment_length`` steps of its ``envs_per_worker`` environments,
    and it syncs after the first batch that brings its steps since the last sync to
    ``max_weight_sync_delay`` (RLlib 1.13 Ape-X's ``UpdateWorkerWeights``)."""
    batch = config.rollout_fragment_length * config.envs_per_worker
    return config.rollout_fragment_length * -(-config.max_weight_sync_delay // batch)


def schedule(replay_ratio: float, num_envs: int, batch_size: int) -> tuple[int, int]:
    """``(actor_steps, learner_steps)`` per iteration: the smallest integers with
    ``learner_steps * batch_size == replay_ratio * actor_steps * num_envs``.

    Raises:
      ValueError: when the ratio needs more than 1,000 steps of either kind per iteration.
    """
    ratio = fractions.Fraction(replay_ratio).limit_denominator(10_000)
    per_actor_step = ratio * num_envs / batch_size  # learner steps per actor step
    if per_actor_step <= 0 or max(per_actor_step.numerator, per_actor_step.denominator) > 1000:
        raise ValueError(f"replay_ratio={replay_ratio} with {num_envs} environments and batch "
                         f"{batch_size} needs {per_actor_step} learner steps per actor step; "
                         "pick a ratio that makes it a simple fraction")
    return per_actor_step.denominator, per_actor_step.numerator


def make_optimizer(config, learning_rate: float | jax.Array | None = None
                   ) -> optax.GradientTransformation:
    """Adam with global-norm gradient clipping; ``learning_rate`` (float32[] when traced)
    defaults to the config's (the optimizer's state does not depend on it)."""
    rate = config.learning_rate if learning_rate is None else learning_rate
    return optax.chain(optax.clip_by_global_norm(config.grad_clip),
                       optax.adam(rate, eps=config.adam_eps))


def make_learner_step(config, net: network.QNetwork, buffer: replay.PrioritizedBuffer,
                      env_params: env.EnvParams, shards: int = 1
                      ) -> Callable[..., tuple[TrainState, jax.Array, jax.Array]]:
    """The learner step of Cassimon et al. §3.2.3 on one shard's state (``replay`` leaves
    without the shard axis): ``learn(state, key, learning_rate) -> (state, loss, mean
    q(s, a))`` (``learning_rate``, and ``beta`` the replay's importance-sampling exponent,
    float32[] when traced, by default the config's).

    It samples a batch, takes one Adam step on the importance-weighted Huber loss of the
    n-step double-Q TD error (the online network picks the bootstrap action, the target network
    values it), writes ``|td|`` back as the batch's priorities, copies the target network every
    ``target_update_period`` trained samples and, under ``weight_sync = "learner_steps"``, the
    actors' parameters every ``actor_update_period`` learner steps. With ``shards > 1`` it runs
    inside ``shard_map`` over :data:`AXIS` and averages the gradients.
    """
    v_observation = jax.vmap(actors_lib.observation, in_axes=(0, None))
    v_loss = jax.vmap(losses.apex_loss, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, None))

    def q_values(params, presented: actors_lib.Presented) -> tuple[jax.Array, jax.Array]:
        """``(q float32[B, N+1], mask bool[B, N+1])`` of compact observations."""
        obs = v_observation(presented, env_params)
        return net.apply(params, obs.tokens, obs.action_mask), obs.action_mask

    def learn(state: TrainState, key: jax.Array, learning_rate: float | jax.Array | None = None,
              beta: jax.Array | None = None) -> tuple[TrainState, jax.Array, jax.Array]:
        """One learner step on a shard's state: (state, loss, mean q(s, a))."""
        batch = buffer.sample(state.replay, _own(shards, key), beta)
        items = batch.items
        q_t_value, mask_t = q_values(state.target_params, items.obs_t)
        q_t_selector, _ = q_values(state.params, items.obs_t)

        def loss_fn(params):
            q_tm1, _ = q_values(params, items.obs_tm1)
            loss, td = v_loss(q_tm1, items.a_tm1, items.r_t, items.discount_t, q_t_value,
                              q_t_selector, mask_t, batch.weights, config.huber_delta)
            q_taken = jnp.take_along_axis(q_tm1, items.a_tm1[:, None], axis=1)[:, 0]
            return jnp.mean(loss), (td, jnp.mean(q_taken))

        (loss, (td, mean_q)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        loss, mean_q, grads = _across(shards, jax.lax.pmean, (loss, mean_q, grads))
        optimizer = make_optimizer(config, learning_rate)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        trained = state.trained_samples + config.batch_size
        steps = state.learner_steps + 1
        new_target = (trained // config.target_update_period
                      != state.trained_samples // config.target_update_period)
        target = _select(new_target, params, state.target_params)
        if config.weight_sync == "learner_steps":
            actor_params = _select(steps % config.actor_update_period == 0, params,
                                   state.actor_params)
        else:  # synced by the actors (make_train)
            actor_params = state.actor_params
        state = state.replace(params=params, target_params=target, actor_params=actor_params,
                              opt_state=opt_state, trained_samples=trained, learner_steps=steps,
                              replay=buffer.update_priorities(state.replay, batch.indices,
                                                              jnp.abs(td)))
        return state, loss, mean_q

    return learn


def make_train(config, env_params: env.EnvParams) -> Trainer:
    """Binds a config (``configs/apex.py``) and a training environment.

    Args:
      config: the Ape-X config (fields documented in ``configs/apex.py``).
      env_params: the training environment (``train_episode_length`` steps).
    Returns:
      Trainer.
    Raises:
      ValueError: on an impossible schedule or device count.
    """
    shards = _check_devices(config)
    net = make_network(config)
    acting = actors_lib.make_actors(
        net, env_params, num_workers=config.num_workers, envs_per_worker=config.envs_per_worker,
        epsilon=config.epsilon, epsilon_exponent=config.epsilon_exponent, n_step=config.n_step,
        gamma=config.gamma, shards=shards,
        reward_scale=actors_lib.reward_factor(config.reward_scale, env_params.alpha))
    buffer = make_buffer(config, shards)
    optimizer = make_optimizer(config)  # the state's structure
    learn = make_learner_step(config, net, buffer, env_params, shards)
    actor_steps, learner_steps = schedule(config.replay_ratio, acting.num_envs, config.batch_size)
    env_steps_per_iteration = actor_steps * acting.num_envs
    iterations = config.iterations_per_chunk
    num_chunks = -(-config.total_steps // (iterations * env_steps_per_iteration))
    warmup_steps = (config.n_step - 1) * acting.num_envs  # fill the histories (Actors.init)
    across = functools.partial(_across, shards)
    own = functools.partial(_own, shards)
    period = sync_period(config)

    def init_with(key: jax.Array, hyper: Hyperparams) -> TrainState:
        """Initial parameters, empty replay, fresh actors exploring at ``hyper.epsilons``
        (``key``: a raw uint32[2] key)."""
        key, key_net, key_obs, key_actors = jax.random.split(key, 4)
        _, env_state = env.reset(key_obs, env_params)  # an example observation for shapes
        obs = env.observe(env_state, env_params)
        params = net.init(key_net, obs.tokens, obs.action_mask)
        if shards == 1:
            actor_state, warmup = acting.init(key_actors, params, 0, hyper.epsilons,
                                              hyper.alpha, hyper.reward_scale)
            actor_state = _stacked(actor_state)
        else:
            actor_state, warmup = jax.vmap(acting.init, in_axes=(0, None, 0, None, None, None))(
                jax.random.split(key_actors, shards), params, jnp.arange(shards),
                hyper.epsilons, hyper.alpha, hyper.reward_scale)
        one = jax.tree.map(lambda x: x[0, 0], actor_state.history)
        example = actors_lib.window(one, hyper.gamma)[0]  # one unbatched item
        buffers = jax.tree.map(lambda x: jnp.broadcast_to(x, (shards, *x.shape)),
                               buffer.init(example))
        zero = jnp.int32(0)
        return TrainState(params=params, target_params=params, actor_params=params,
                          opt_state=optimizer.init(params), replay=buffers,
                          actors=actor_state, key=key, env_steps=jnp.int32(warmup_steps),
                          trained_samples=zero, learner_steps=zero,
                          episodes=jnp.sum(warmup.episodes).astype(jnp.int32))

    def iteration(hyper: Hyperparams, state: TrainState, _) -> tuple[TrainState, dict]:
        key, key_act, key_learn = jax.random.split(state.key, 3)

        def act(carry, key):
            state, episodes, acc_sum = carry
            actor_state, items, priorities, stats = acting.step(
                state.actors, state.actor_params, own(key), hyper.gamma, hyper.alpha,
                hyper.reward_scale)
            stats = across(jax.lax.psum, stats)
            state = state.replace(actors=actor_state,
                                  replay=buffer.add(state.replay, items, priorities),
                                  env_steps=state.env_steps + acting.num_envs,
                                  episodes=state.episodes + stats.episodes)
            if config.weight_sync == "sample_batch":
                batches_done = (state.env_steps - warmup_steps) // acting.num_envs % period == 0
                state = state.replace(actor_params=_select(batches_done, state.params,
                                                           state.actor_params))
            return (state, episodes + stats.episodes, acc_sum + stats.final_acc_sum), None

        zero_f = jnp.float32(0)
        (state, episodes, acc_sum), _ = jax.lax.scan(
            act, (state, jnp.int32(0), zero_f), jax.random.split(key_act, actor_steps))

        def learn_all(state):
            def body(state, key):
                state, loss, mean_q = learn(state, key, hyper.learning_rate,
                                            hyper.priority_beta)
                return state, (loss, mean_q)
            state, (loss, mean_q) = jax.lax.scan(body, state,
                                                 jax.random.split(key_learn, learner_steps))
            return state, jnp.sum(loss), jnp.sum(mean_q), jnp.int32(learner_steps)

        def wait(state):
            return state, zero_f, zero_f, jnp.int32(0)

        state, loss_sum, q_sum, learned = jax.lax.cond(
            state.env_steps - warmup_steps >= config.learning_starts, learn_all, wait, state)
        metrics = {"episodes": episodes, "final_acc_sum": acc_sum, "loss_sum": loss_sum,
                   "q_sum": q_sum, "learned": learned}
        return state.replace(key=key), metrics

    def shard_chunk(state: TrainState, hyper: Hyperparams) -> tuple[TrainState, dict]:
        """The chunk on one shard (``replay`` and ``actors`` leaves ``[1, ...]``)."""
        state = state.replace(replay=_unstacked(state.replay), actors=_unstacked(state.actors))
        state, per = jax.lax.scan(functools.partial(iteration, hyper), state, None,
                                  length=iterations)
        return state.replace(replay=_stacked(state.replay), actors=_stacked(state.actors)), per

    if shards == 1:
        run_chunk, placement = shard_chunk, None
    else:
        spec = jax.sharding.PartitionSpec
        state_specs = TrainState(params=spec(), target_params=spec(), actor_params=spec(),
                                 opt_state=spec(), replay=spec(AXIS), actors=spec(AXIS),
                                 key=spec(), env_steps=spec(), trained_samples=spec(),
                                 learner_steps=spec(), episodes=spec())
        devices = sharding.mesh(shards, AXIS)
        run_chunk = jax.shard_map(shard_chunk, mesh=devices,
                                  in_specs=(state_specs, spec()),
                                  out_specs=(state_specs, spec()),
                                  check_vma=False)
        placement = jax.tree.map(lambda p: jax.sharding.NamedSharding(devices, p), state_specs,
                                 is_leaf=lambda x: isinstance(x, spec))

    def chunk_with(state: TrainState, hyper: Hyperparams) -> tuple[TrainState, dict]:
        """``iterations_per_chunk`` iterations; metrics of the chunk (scalars)."""
        state, per = run_chunk(state, hyper)
        episodes, learned = per["episodes"].sum(), per["learned"].sum()
        nan = jnp.float32(jnp.nan)
        metrics = {
            "env_steps": state.env_steps, "episodes": state.episodes,
            "chunk_episodes": episodes,
            "final_val_acc": jnp.where(episodes > 0, per["final_acc_sum"].sum() / episodes, nan),
            "loss": jnp.where(learned > 0, per["loss_sum"].sum() / learned, nan),
            "mean_q": jnp.where(learned > 0, per["q_sum"].sum() / learned, nan),
            "trained_samples": state.trained_samples, "learner_steps": state.learner_steps}
        return state, metrics

    def train(key: jax.Array, hyper: Hyperparams) -> tuple[TrainState, dict]:
        """The whole run (``num_chunks`` chunks) as one pure function; metrics per chunk."""
        return jax.lax.scan(lambda s, _: chunk_with(s, hyper), init_with(key, hyper), None,
                            length=num_chunks)

    hyper = hyperparams(config)
    jitted = jax.jit(chunk_with, donate_argnums=0)
    if placement is None:
        def chunk(state: TrainState) -> tuple[TrainState, dict]:
            """The jitted chunk with the config's hyperparameters."""
            return jitted(state, hyper)
    else:
        replicated = distributed.put(hyper, jax.sharding.NamedSharding(devices, spec()))

        def chunk(state: TrainState) -> tuple[TrainState, dict]:
            """The jitted chunk after moving the state onto the shards' devices (a restored or
            freshly initialised state sits on one device; over several processes each gives
            its devices' parts)."""
            return jitted(distributed.put(state, placement), replicated)

    return Trainer(net=net, actors=acting, buffer=buffer, actor_steps=actor_steps,
                   learner_steps=learner_steps,
                   env_steps_per_chunk=iterations * env_steps_per_iteration,
                   num_chunks=num_chunks, hyper=hyper,
                   init=lambda key: init_with(key, hyper), chunk=chunk, init_with=init_with,
                   chunk_with=chunk_with, train=train, placement=placement)


def check_config(config) -> None:
    """Raise ValueError when a config's device count or replay schedule cannot run here (what
    :func:`make_train` checks first; cheap, so launch scripts call it before writing files)."""
    _check_devices(config)
    schedule(config.replay_ratio, config.num_workers * config.envs_per_worker, config.batch_size)


def _check_devices(config) -> int:
    """``config.devices`` after checking that the local devices and the sizes allow it."""
    shards = config.devices
    available = jax.device_count()
    if not 1 <= shards <= available:
        raise ValueError(f"devices={shards}: this process sees {available} device(s) (over "
                         f"{jax.process_count()} process(es))")
    for field in ("batch_size", "replay_capacity"):
        if config[field] % shards:
            raise ValueError(f"{field}={config[field]} does not split into devices={shards} "
                             "equal shards")
    return shards


def _across(shards: int, collective: Callable, x):
    """A collective over the shards (``jax.lax.psum``/``pmean``); none on one device."""
    return collective(x, AXIS) if shards > 1 else x


def _own(shards: int, key: jax.Array) -> jax.Array:
    """This shard's key: the replicated key folded with the shard index."""
    return jax.random.fold_in(key, jax.lax.axis_index(AXIS)) if shards > 1 else key


def _stacked(tree):
    """A leading shard axis of size 1 on every leaf."""
    return jax.tree.map(lambda x: x[None], tree)


def _unstacked(tree):
    """The shard axis of size 1 dropped from every leaf."""
    return jax.tree.map(lambda x: x[0], tree)


def _select(flag: jax.Array, new, old):
    """``new`` where ``flag`` else ``old``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


# Sweep points trained together (``jit(vmap(chunk))``, launch/train_apex.py): the points share
# the replay schedule, so their step counters are equal and stay unbatched. The learner's
# ``lax.cond`` on ``env_steps`` then stays a branch; under a batched predicate ``vmap`` would
# turn it into a select that runs the learner in every iteration.
COUNTERS = ("env_steps", "trained_samples", "learner_steps")


def _over_points(counter: Callable[[str], Any], own: Callable[[str], Any]) -> TrainState:
    """A state over points field by field: ``counter(name)`` for :data:`COUNTERS` (shared by
    the points), ``own(name)`` for every other field (one per point)."""
    return TrainState(**{field.name: (counter if field.name in COUNTERS else own)(field.name)
                         for field in dataclasses.fields(TrainState)})


def point_axes() -> TrainState:
    """``vmap`` axes of a state over sweep points: 0 for every field but :data:`COUNTERS`."""
    return _over_points(lambda _: None, lambda _: 0)


def point_state(state, index: int) -> TrainState:
    """Point ``index``'s state of a state over points (:func:`stack_points`)."""
    if isinstance(state, tuple):  # the points in turn
        return state[index]
    return _over_points(lambda name: getattr(state, name),
                        lambda name: jax.tree.map(lambda leaf: leaf[index], getattr(state, name)))


POINTS = "points"  # the mesh axis of sweep points trained together


def point_devices(num_points: int, available: int | None = None) -> int:
    """How many devices ``num_points`` sweep points trained together spread over: the largest
    divisor of the point count that is at most ``available`` (by default the local device
    count; 1 over several processes, whose together runs are not split by point)."""
    if available is None:
        available = 1 if jax.process_count() > 1 else jax.local_device_count()
    return max(d for d in range(1, min(num_points, available) + 1) if num_points % d == 0)


def points_in_turn(num_points: int) -> bool:
    """Whether sweep points trained together run one after another through the single run's
    compiled chunk: on one CPU device. There a point's chunk already fills the cores, and both
    vmapping the replay's scatters and gathers over the points and looping over stacked points
    inside one program ran slower than the points in turn, which also stack no states
    (``launch.benchmark --only=sweep_seeds``)."""
    return jax.default_backend() == "cpu" and point_devices(num_points) == 1


def points_chunk(trainer: Trainer, hypers: list[Hyperparams]) -> Callable:
    """The chunk of sweep points trained together, each with its hyperparameters:
    ``chunk(state) -> (state, metrics)`` on the state of :func:`stack_points` (donated), the
    metrics ``[P]``.

    One compiled program serves every point: ``jit(vmap(chunk_with))`` over the points on
    accelerators (their state on :func:`point_axes`); on one CPU device
    (:func:`points_in_turn`) the single run's ``jit(chunk_with)``, called for each point in
    turn, so each point is bit-identical to its single run. Over ``D = point_devices(P) > 1``
    devices the points split into ``D`` equal groups, one per device (``shard_map``; the
    points are independent, so no device waits for another), each group vmapped, or in turn
    inside the program on CPU (:func:`_points_mapped`)."""
    if points_in_turn(len(hypers)):
        single = jax.jit(trainer.chunk_with, donate_argnums=0)

        def in_turn(states: tuple[TrainState, ...]) -> tuple[tuple[TrainState, ...], dict]:
            outputs = [single(state, hyper) for state, hyper in zip(states, hypers)]
            metrics = jax.device_get([metrics for _, metrics in outputs])
            return (tuple(state for state, _ in outputs),
                    jax.tree.map(lambda *points: np.stack(points), *metrics))

        return in_turn
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *hypers)
    if jax.default_backend() == "cpu":
        batched = functools.partial(_points_mapped, trainer.chunk_with)
    else:
        batched = jax.vmap(trainer.chunk_with, in_axes=(point_axes(), 0),
                           out_axes=(point_axes(), 0))
    devices = point_devices(len(hypers))
    if devices > 1:
        spec = jax.sharding.PartitionSpec
        state_specs = _over_points(lambda _: spec(), lambda _: spec(POINTS))
        batched = jax.shard_map(batched, mesh=sharding.mesh(devices, POINTS),
                                in_specs=(state_specs, spec(POINTS)),
                                out_specs=(state_specs, spec(POINTS)), check_vma=False)
    jitted = jax.jit(batched, donate_argnums=0)
    return lambda state: jitted(state, stacked)


def _points_mapped(chunk_with: Callable, state: TrainState, hyper: Hyperparams
                    ) -> tuple[TrainState, dict]:
    """``chunk_with`` of each point in turn inside one program (``lax.map`` over stacked
    points; state on :func:`point_axes`), for a device's group of points on CPU: vmapping the
    replay's scatters and gathers over the points ran slower there
    (``launch.benchmark --only=sweep_seeds``)."""
    counters = {name: getattr(state, name) for name in COUNTERS}
    own = {field.name: getattr(state, field.name) for field in dataclasses.fields(TrainState)
           if field.name not in COUNTERS}

    def one(point):
        fields, point_hyper = point
        new, metrics = chunk_with(TrainState(**fields, **counters), point_hyper)
        return ({name: getattr(new, name) for name in fields},
                {name: getattr(new, name) for name in COUNTERS}, metrics)

    fields, new_counters, metrics = jax.lax.map(one, (own, hyper))
    # The points share the replay schedule: their counters are equal.
    return TrainState(**fields, **jax.tree.map(lambda x: x[0], new_counters)), metrics


def stack_points(states: list[TrainState]):
    """The state over points of the points' states (their counters are equal), as
    :func:`points_chunk` takes it: the states themselves (a tuple) when the points run in turn
    (:func:`points_in_turn`), else every field but :data:`COUNTERS` stacked on a leading
    axis."""
    if points_in_turn(len(states)):
        return tuple(states)
    return _over_points(lambda name: getattr(states[0], name),
                        lambda name: jax.tree.map(lambda *leaves: jnp.stack(leaves),
                                                  *(getattr(s, name) for s in states)))
