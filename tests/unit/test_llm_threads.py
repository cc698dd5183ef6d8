from voxroom.providers.llm_threads import HOLD_S, STRIKES, ThreadChoice


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_two_threads_only_for_a_lone_reply_while_nothing_else_computes() -> None:
    others = [0]
    choice = ThreadChoice(2, lambda: others[0])
    assert choice.threads(generations=1) == 2
    assert choice.threads(generations=3) == 1  # a batch: the other core is the sessions'
    others[0] = 1  # Whisper or Piper is running
    assert choice.threads(generations=1) == 1
    assert ThreadChoice(1, lambda: 0).threads(generations=1) == 1


def test_steps_much_slower_than_the_fastest_send_it_back_to_one_thread_for_a_while() -> None:
    clock = Clock()
    choice = ThreadChoice(2, lambda: 0, clock=clock)
    choice.observe(2, tokens=1, seconds=0.024)
    for _ in range(STRIKES - 1):
        choice.observe(2, tokens=1, seconds=0.2)  # another program holds a core
    choice.observe(2, tokens=1, seconds=0.025)  # a normal step: the strikes start over
    assert choice.threads(1) == 2
    for _ in range(STRIKES):
        choice.observe(2, tokens=1, seconds=0.2)
    assert choice.threads(1) == 1
    clock.now += HOLD_S + 0.1
    assert choice.threads(1) == 2  # then it tries again


def test_only_one_token_steps_with_all_threads_are_compared() -> None:
    choice = ThreadChoice(2, lambda: 0)
    choice.observe(2, tokens=1, seconds=0.024)
    for _ in range(STRIKES):
        choice.observe(2, tokens=40, seconds=0.5)  # a prompt chunk takes longer, rightly
        choice.observe(1, tokens=1, seconds=0.5)
    assert choice.threads(1) == 2
