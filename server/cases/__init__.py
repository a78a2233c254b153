"""Cases: the deterministic state machine an alert walks through before anything is executed.

``fsm.decide`` is the pure decision; ``store.CaseStore.transition`` is the one place state changes;
side effects (execution, delivery) only leave through the outbox.
"""
