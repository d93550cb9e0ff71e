from sb3_reinforce.train import main

main()
