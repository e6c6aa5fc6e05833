"""Small pieces shared by the driver, actors/, learner/ and reward/: the rollout batch (``types``),
the console voice, fault injection, placement, the tokenizer and the weight transport."""
