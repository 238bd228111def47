"""A script addon that does nothing: the floor any mitmdump script costs, for scripts/bench."""


class NoOp:
    def response(self, flow: object) -> None:
        pass


addons = [NoOp()]
