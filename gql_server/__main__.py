from gql_server.cli import main

main()
