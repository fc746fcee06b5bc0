/** A broken invariant of the simulation, with what is needed to replay it. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly step: number,
    message: string,
  ) {
    super(`seed ${seed}, step ${step}: ${message} (replay with SEED=${seed} npm run sim)`);
  }
}
