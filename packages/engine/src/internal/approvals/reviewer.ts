/**
 * A reviewer given as an id alone or with roles, made one shape: the one place reviewer input is
 * normalised (`ReviewerInput` decodes through it; `allowedActions`, `isReviewer` and `canDecide` call it).
 *
 * @internal
 */

/** @internal */
export interface ReviewerLike {
  readonly id: string
  readonly roles?: ReadonlyArray<string> | undefined
}

/** @internal */
export const reviewerOf = <R extends ReviewerLike>(input: R | string): R | { readonly id: string } =>
  typeof input === "string" ? { id: input } : input
