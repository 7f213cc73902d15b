"""TestInvokeMethod (being written)."""


def test_invoke_method(self):
    raise NotImplementedError("The test_invoke_method action has not been implemented")
