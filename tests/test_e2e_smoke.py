from conftest import order_line


def test_export_then_pull_books_the_order(cli, megapteka):
    _, site = megapteka
    code, result, _ = cli.json("export-stock")
    assert code == 0, result
    assert len(site.stock_items) == 5
    site.add_order([order_line("A-1001", "4601234567890", 2)])
    code, result, _ = cli.json("pull-orders")
    assert code == 0
    assert result["connectors"]["megapteka"]["counts"]["booked_full"] == 1
