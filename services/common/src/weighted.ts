// One weighted choice for the whole project: flaskapp's weighted /status and
// the mesh preview's route weights. Weights are relative (each item gets
// weight / sum of weights), items of weight 0 are never picked.

/** Picks an item by weight; `random` is a number in [0, 1) such as Math.random(). At least one weight must be above 0. */
export function pickWeighted<T extends { weight: number }>(items: readonly T[], random: number): T {
  const total = items.reduce((sum, item) => sum + item.weight, 0);
  let point = random * total;
  for (const item of items) {
    if (point < item.weight) return item;
    point -= item.weight;
  }
  // Only reached through floating-point rounding at the top end.
  return items.findLast((item) => item.weight > 0)!;
}
